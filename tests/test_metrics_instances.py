"""COCO mask AP / AR against plain pycocotools on the real instances slice, perturbed with fixed seeds."""
from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from metric_references import crowd_gt, perturb_instances, reference_coco
from seglab import Masks
from seglab.formats import FormatError, load_coco_gt, write_json
from seglab.metrics import COCO_STATS, InstanceEvaluator, coco_instance_metrics


@pytest.fixture(scope="module")
def files(coco_root: Path, tmp_path_factory) -> tuple[Path, Path, list[dict]]:
    """Ground truth with some crowds and perturbed predictions (seed 0), written as JSON."""
    rng = np.random.default_rng(0)
    gt = crowd_gt(json.loads((coco_root / "annotations" / "instances_val2017.json").read_text()), rng)
    tmp = tmp_path_factory.mktemp("instances")
    gt_json = write_json(tmp / "gt.json", gt)
    with contextlib.redirect_stdout(io.StringIO()):
        preds = perturb_instances(COCO(str(gt_json)), rng)
    return gt_json, write_json(tmp / "pred.json", preds), preds


@pytest.mark.parametrize("agnostic", [False, True])
def test_equals_pycocotools_on_perturbed_real_data(files, agnostic):
    gt_json, pred_json, _ = files
    ours = coco_instance_metrics(gt_json, pred_json, class_agnostic=agnostic)
    ref = reference_coco(gt_json, pred_json, use_cats=not agnostic)  # class-agnostic reference: useCats = 0
    assert list(ours) == list(COCO_STATS)
    for key, value in zip(COCO_STATS, ref):
        assert ours[key] == pytest.approx(100 * value, abs=1e-9) if value >= 0 else math.isnan(ours[key])
    assert 0 < ours["AP"] < ours["AR@100"] < 100


@pytest.mark.parametrize("agnostic", [False, True])
def test_evaluator_streamed_per_image_equals_pycocotools(files, agnostic):
    gt_json, pred_json, preds = files
    ev = InstanceEvaluator(gt_json, class_agnostic=agnostic)
    image_ids = sorted(ev.gt.imgs)
    for image_id in image_ids:
        assert ev.process(image_id, [p for p in preds if p["image_id"] == image_id]) is None
    ours = ev.evaluate()
    for key, value in zip(COCO_STATS, reference_coco(gt_json, pred_json, use_cats=not agnostic)):
        assert ours[key] == pytest.approx(100 * value, abs=1e-9) if value >= 0 else math.isnan(ours[key])
    ev.reset()
    ev.process(image_ids[0], [])  # an image with no prediction still counts: its instances are missed
    assert ev.evaluate()["AR@100"] == 0
    ev.reset()
    with pytest.raises(FormatError, match="no image was processed"):
        ev.evaluate()


def test_ground_truth_against_itself_is_perfect(coco_root):
    gt = load_coco_gt(coco_root / "annotations" / "instances_val2017.json")
    preds = []
    for a in gt.dataset["annotations"]:
        if not a["iscrowd"]:
            img = gt.imgs[a["image_id"]]
            preds += Masks(gt.annToMask(a)[None].astype(bool), [1.0], labels=[a["category_id"]]).to_coco(img["id"])
    r = coco_instance_metrics(gt, preds)
    assert r["AP"] == pytest.approx(100) and r["AR@100"] == pytest.approx(100)
    assert coco_instance_metrics(gt, preds, class_agnostic=True)["AR@100"] == pytest.approx(100)


def test_caller_predictions_are_not_modified_and_order_is_irrelevant(files):
    gt_json, _, preds = files
    before = json.dumps(preds)
    a = coco_instance_metrics(gt_json, preds)
    assert json.dumps(preds) == before
    assert coco_instance_metrics(gt_json, preds[::-1]) == a


def test_no_predictions_scores_zero_and_image_ids_restrict(files):
    gt_json, _, preds = files
    r = coco_instance_metrics(gt_json, [])
    assert r["AP"] == 0 and r["AR@100"] == 0
    some = sorted({p["image_id"] for p in preds})[:5]
    sub = coco_instance_metrics(gt_json, preds, image_ids=some)
    ref = coco_instance_metrics(gt_json, [p for p in preds if p["image_id"] in some], image_ids=some)
    assert sub == ref and sub != coco_instance_metrics(gt_json, preds)


def test_bad_predictions_are_clear_errors(files, tmp_path):
    gt_json, _, preds = files
    with pytest.raises(FormatError, match="image id 123, which is not in the ground truth"):
        coco_instance_metrics(gt_json, [{**preds[0], "image_id": 123}])
    with pytest.raises(FormatError, match="unknown category id 999"):
        coco_instance_metrics(gt_json, [{**preds[0], "category_id": 999}])
    assert coco_instance_metrics(gt_json, [{**preds[0], "category_id": 999}], class_agnostic=True)["AR@100"] >= 0
    with pytest.raises(FormatError, match="mask is 10x10 but image"):
        coco_instance_metrics(gt_json, [{**preds[0], "segmentation": {"size": [10, 10], "counts": "0"}}])
    with pytest.raises(FormatError, match="needs image_id"):
        coco_instance_metrics(gt_json, [{"image_id": preds[0]["image_id"]}])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FormatError, match="bad.json is not valid JSON"):
        coco_instance_metrics(gt_json, tmp_path / "bad.json")
    with pytest.raises(FormatError, match="does not exist"):
        coco_instance_metrics(tmp_path / "missing.json", preds)
    with pytest.raises(FormatError, match="not in the ground truth"):
        coco_instance_metrics(gt_json, preds, image_ids=[1])
