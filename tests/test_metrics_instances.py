"""COCO mask AP / AR (faster-coco-eval's engine) against plain pycocotools COCOeval, all 12 numbers to 1e-9:
on the real instances slice, perturbed with fixed seeds, and on a larger synthetic set."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from benchmarks.metric_data import synthetic_instances
from metric_references import crowd_gt, perturb_instances, reference_coco
from seglab import Masks
from seglab.formats import FormatError, load_coco_gt, write_json
from seglab.metrics import COCO_STATS, InstanceEvaluator, coco_instance_metrics


def assert_equals_reference(ours: dict[str, float], reference: np.ndarray) -> None:
    """Every one of COCOeval's 12 stats, in percent (its -1, no ground truth in that area range, as NaN)."""
    assert list(ours) == list(COCO_STATS)
    for key, value in zip(COCO_STATS, reference, strict=True):
        assert ours[key] == pytest.approx(100 * value, abs=1e-9) if value >= 0 else math.isnan(ours[key]), key


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


@pytest.fixture(scope="module")
def synthetic() -> tuple[dict, list[dict]]:
    """120 synthetic images (about 900 objects, crowds, images without objects), 20 results an image."""
    return synthetic_instances(images=120, detections=20, seed=1)


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
@pytest.mark.parametrize("agnostic", [False, True])
def test_equals_pycocotools_on_perturbed_real_data(files, agnostic, iou_type):
    gt_json, pred_json, _ = files
    ours = coco_instance_metrics(gt_json, pred_json, class_agnostic=agnostic, iou_type=iou_type)
    # the class-agnostic reference is pycocotools' own: useCats = 0 (no ties among the scores to break differently)
    assert_equals_reference(ours, reference_coco(gt_json, pred_json, use_cats=not agnostic, iou_type=iou_type))
    assert 0 < ours["AP"] < ours["AR@100"] < 100


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
@pytest.mark.parametrize("agnostic", [False, True])
def test_equals_pycocotools_on_a_larger_synthetic_set(synthetic, agnostic, iou_type):
    gt, preds = synthetic
    assert sum(a["iscrowd"] for a in gt["annotations"]) > 0
    assert len({a["image_id"] for a in gt["annotations"]}) < len(gt["images"])  # some images without objects
    ours = coco_instance_metrics(gt, preds, class_agnostic=agnostic, iou_type=iou_type)
    assert_equals_reference(ours, reference_coco(copy.deepcopy(gt), preds, use_cats=not agnostic, iou_type=iou_type))
    assert 10 < ours["AP"] < ours["AR@100"] < 90


def test_tied_scores_are_broken_as_pycocotools_breaks_them(synthetic):
    gt, preds = synthetic
    tied = [{**p, "score": round(p["score"], 1)} for p in preds]  # ten distinct scores
    assert_equals_reference(coco_instance_metrics(gt, tied), reference_coco(copy.deepcopy(gt), tied))
    # class-agnostic: pycocotools on the relabelled set (useCats = 0 orders tied detections by category first)
    relabelled = {**gt, "annotations": [{**a, "category_id": 1} for a in gt["annotations"]],
                  "categories": [{"id": 1, "name": "object"}]}
    assert_equals_reference(coco_instance_metrics(gt, tied, class_agnostic=True),
                            reference_coco(relabelled, [{**p, "category_id": 1} for p in tied]))


@pytest.mark.parametrize("agnostic", [False, True])
def test_image_ids_restriction_and_an_image_without_predictions(synthetic, agnostic):
    gt, preds = synthetic
    some = list(range(1, 31))  # ground-truth image ids are 1..120
    kept = [p for p in preds if p["image_id"] != 7]  # image 7 has objects but no prediction
    ours = coco_instance_metrics(gt, kept, class_agnostic=agnostic, image_ids=some)
    assert_equals_reference(ours, reference_coco(copy.deepcopy(gt), kept, use_cats=not agnostic, image_ids=some))
    assert ours != coco_instance_metrics(gt, kept, class_agnostic=agnostic)


@pytest.mark.parametrize("agnostic", [False, True])
def test_empty_prediction_list_equals_pycocotools(files, agnostic):
    gt_json, _, _ = files
    ours = coco_instance_metrics(gt_json, [], class_agnostic=agnostic)
    assert_equals_reference(ours, reference_coco(gt_json, [], use_cats=not agnostic))
    assert ours["AP"] == 0 and ours["AR@100"] == 0


@pytest.mark.parametrize("agnostic", [False, True])
def test_evaluator_streamed_per_image_equals_pycocotools(files, agnostic):
    gt_json, pred_json, preds = files
    ev = InstanceEvaluator(gt_json, class_agnostic=agnostic)
    image_ids = sorted(ev.gt.imgs)
    for image_id in image_ids:
        assert ev.process(image_id, [p for p in preds if p["image_id"] == image_id]) is None
    ours = ev.evaluate()
    assert_equals_reference(ours, reference_coco(gt_json, pred_json, use_cats=not agnostic))
    assert ev.evaluate() == ours  # evaluating again (the same ground truth object) gives the same numbers
    ev.reset()
    ev.process(image_ids[0], [])  # an image with no prediction still counts: its instances are missed
    assert ev.evaluate()["AR@100"] == 0
    ev.reset()
    with pytest.raises(FormatError, match="no image was processed"):
        ev.evaluate()


def test_ground_truth_against_itself_is_perfect_and_crowd_matches_are_ignored(coco_root):
    gt = load_coco_gt(coco_root / "annotations" / "instances_val2017.json")
    preds, crowds = [], []
    for a in gt.dataset["annotations"]:
        mask = Masks(gt.annToMask(a)[None].astype(bool), [1.0 if a["iscrowd"] else 0.5], labels=[a["category_id"]])
        (crowds if a["iscrowd"] else preds).extend(mask.to_coco(a["image_id"]))
    assert crowds  # the slice's own crowd regions (RLE in the official file)
    r = coco_instance_metrics(gt, preds)
    assert r["AP"] == pytest.approx(100) and r["AR@100"] == pytest.approx(100)
    assert coco_instance_metrics(gt, preds, class_agnostic=True)["AR@100"] == pytest.approx(100)
    # a prediction covering a crowd region matches it and is ignored, not counted as a false positive (scored
    # above every true positive, it would lower the precision of each)
    assert coco_instance_metrics(gt, preds + crowds)["AP"] == pytest.approx(100)


def test_caller_data_is_not_modified_and_order_is_irrelevant(files):
    gt_json, _, preds = files
    gt = load_coco_gt(gt_json)
    before, gt_before = json.dumps(preds), json.dumps(gt.dataset)
    a = coco_instance_metrics(gt, preds)
    assert json.dumps(preds) == before and json.dumps(gt.dataset) == gt_before  # the engine writes rle / ignore
    assert coco_instance_metrics(gt_json, preds[::-1]) == a


def test_verbose_prints_the_summary_table(files, capsys):
    gt_json, pred_json, _ = files
    coco_instance_metrics(gt_json, pred_json)
    assert capsys.readouterr().out == ""
    coco_instance_metrics(gt_json, pred_json, verbose=True)
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]" in capsys.readouterr().out


def test_bad_predictions_are_clear_errors(files, tmp_path):
    gt_json, pred_json, preds = files
    with pytest.raises(FormatError, match="image id 123, which is not in the ground truth"):
        coco_instance_metrics(gt_json, [{**preds[0], "image_id": 123}])
    with pytest.raises(FormatError, match="unknown category id 999"):
        coco_instance_metrics(gt_json, [{**preds[0], "category_id": 999}])
    proposals = [{**p, "category_id": 999} for p in preds]  # class-agnostic: any category id, all of them counted
    assert_equals_reference(coco_instance_metrics(gt_json, proposals, class_agnostic=True),
                            reference_coco(gt_json, pred_json, use_cats=False))
    with pytest.raises(FormatError, match="mask is 10x10 but image"):
        coco_instance_metrics(gt_json, [{**preds[0], "segmentation": {"size": [10, 10], "counts": "0"}}])
    with pytest.raises(FormatError, match="needs image_id"):
        coco_instance_metrics(gt_json, [{"image_id": preds[0]["image_id"]}])
    with pytest.raises(FormatError, match="iou_type must be 'segm' or 'bbox'"):
        coco_instance_metrics(gt_json, preds, iou_type="keypoints")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FormatError, match="bad.json is not valid JSON"):
        coco_instance_metrics(gt_json, tmp_path / "bad.json")
    with pytest.raises(FormatError, match="does not exist"):
        coco_instance_metrics(tmp_path / "missing.json", preds)
    with pytest.raises(FormatError, match="not in the ground truth"):
        coco_instance_metrics(gt_json, preds, image_ids=[1])
