"""Cityscapes panoptic: seglab's PQ equals cityscapesScripts' evaluatePanoptic on the ground truth its
createPanopticImgs makes from the fine labels, and the panoptic benchmark runs on that layout.

The fine instance labels are built in tmp_path from the segment layout of the real COCO panoptic
PNGs in ../shared/data (Cityscapes may not be redistributed): each COCO segment gets a Cityscapes
class, thing segments an instance id (class * 1000 + k) or, now and then, none (a crowd region),
and some segments a class the evaluation ignores (void).
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_datasets_cityscapes import save_sample  # an image and its label PNG in Cityscapes' layout
from test_metrics_panoptic import assert_same  # panopticapi's numbers vs ours, key by key
from test_models_hf import CITYSCAPES, CITYSCAPES_NAMES, _mask2former  # a tiny Mask2Former with a given label set

from metric_references import perturb_panoptic, save_id_png
from benchmarks.run import main
from seglab.datasets import DatasetLayoutError, cityscapes
from seglab.formats import read_coco_panoptic, read_panoptic_png
from seglab.metrics import pq_compute_files

IGNORED = (0, 4, 5)  # unlabeled, static, dynamic: void in the panoptic ground truth


@pytest.fixture(scope="module")
def cityscapes_root(coco_root: Path, tmp_path_factory) -> Path:
    """A Cityscapes folder: leftImg8bit + gtFine instance ids, and the official panoptic conversion of them."""
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    root = tmp_path_factory.mktemp("cityscapes")
    data, folder = read_coco_panoptic(coco_root / "annotations" / "panoptic_val2017.json")
    coco_isthing = {c["id"]: c["isthing"] for c in data["categories"]}
    things = [c.id for c in CITYSCAPES if c.isthing]
    stuff = [c.id for c in CITYSCAPES if not c.isthing]
    rng = np.random.default_rng(5)
    for n, ann in enumerate(data["annotations"] * 2):  # each layout twice: as is, and mirrored
        ids = read_panoptic_png(folder / ann["file_name"])
        labels = np.zeros(ids.shape, np.uint16)  # 0: unlabeled
        for k, seg in enumerate(ann["segments_info"]):
            if rng.random() < 0.1:
                value = rng.choice(IGNORED)
            elif coco_isthing[seg["category_id"]]:
                cls = rng.choice(things)
                value = cls if rng.random() < 0.2 else cls * 1000 + k  # a crowd region has no instance id
            else:
                value = rng.choice(stuff)
            labels[ids == seg["id"]] = value
        if n >= len(data["annotations"]):
            labels = labels[:, ::-1].copy()
        save_sample(root, ("lindau", "munster")[n % 2], n, "gtFine_instanceIds", labels, rng)
    with contextlib.redirect_stdout(io.StringIO()):
        convert2panoptic(str(root / "gtFine"), str(root / "gtFine"), setNames=["val"])
    return root


def _predictions(gt_json: Path, out: Path, seed: int) -> Path:
    """Perturbed copies of the ground truth (dropped, shifted, cut, relabelled, merged segments, false
    positives) as a prediction JSON + PNG folder."""
    gt = json.loads(gt_json.read_text())
    rng = np.random.default_rng(seed)
    category_ids = [c["id"] for c in gt["categories"]]
    (out / "pred").mkdir(parents=True)
    annotations = []
    for ann in gt["annotations"]:
        ids = read_panoptic_png(gt_json.with_suffix("") / ann["file_name"])
        pred_ids, info = perturb_panoptic(ids, ann["segments_info"], category_ids, rng)
        save_id_png(out / "pred" / ann["file_name"], pred_ids)
        annotations.append({"image_id": ann["image_id"], "file_name": ann["file_name"], "segments_info": info})
    (out / "pred.json").write_text(json.dumps({"annotations": annotations}))
    return out / "pred.json"


@pytest.mark.parametrize("seed", [0, 1])
def test_pq_equals_cityscapesscripts(cityscapes_root: Path, tmp_path: Path, seed: int):
    from cityscapesscripts.evaluation.evalPanopticSemanticLabeling import evaluatePanoptic

    gt_json = cityscapes_root / "gtFine" / "cityscapes_panoptic_val.json"
    pred_json = _predictions(gt_json, tmp_path, seed)
    ours = pq_compute_files(gt_json, pred_json)
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = evaluatePanoptic(str(gt_json), str(gt_json.with_suffix("")), str(pred_json),
                                  str(pred_json.with_suffix("")), str(tmp_path / "theirs.json"))
    assert_same(ours, theirs)
    assert ours["images"] == 6 and 0 < ours["PQ"] < 100 and ours["n_th"] > 0 and ours["n_st"] > 0
    gt = json.loads(gt_json.read_text())
    assert any(s["iscrowd"] for a in gt["annotations"] for s in a["segments_info"])  # the crowd rule was exercised


def test_loader_reads_the_official_conversion(cityscapes_root: Path):
    data, folder, images = cityscapes.load_panoptic(cityscapes_root)
    assert folder == cityscapes_root / "gtFine" / "cityscapes_panoptic_val" and len(data["annotations"]) == 6
    assert {c["id"]: bool(c["isthing"]) for c in data["categories"]} == \
        {c.id: c.isthing for c in CITYSCAPES}
    assert images == cityscapes_root / "leftImg8bit" / "val"


def test_missing_panoptic_ground_truth_names_the_command(tmp_path: Path):
    (tmp_path / "leftImg8bit" / "val").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="cityscapesscripts.preparation.createPanopticImgs --dataset-folder "
                                                 f"{tmp_path / 'gtFine'} --set-names val"):
        cityscapes.load_panoptic(tmp_path)


def test_panoptic_benchmark_on_cityscapes(cityscapes_root: Path, tmp_path: Path):
    model = _mask2former(tmp_path / "model", CITYSCAPES_NAMES)
    out = tmp_path / "out"
    assert main(["--models", "mask2former-swin-large-cityscapes-panoptic", "--task", "panoptic", "--dataset",
                 "cityscapes", "--root", str(cityscapes_root), "--location", str(model), "--device", "cpu",
                 "--out", str(out)]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["dataset"] == "cityscapes-val" and row["n_images"] == 6 and row["n_failed"] == 0
    assert 0 <= row["PQ"] <= 100 and row["weights"] == "pretrained"
    records = [json.loads(line) for line in next(out.glob("predictions/**/*.jsonl")).read_text().splitlines()]
    cats = {c.id for c in CITYSCAPES}
    assert all(s["category_id"] in cats for r in records for s in r["prediction"]["segments_info"])
