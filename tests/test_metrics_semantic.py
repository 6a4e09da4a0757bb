"""mIoU / accuracies from a bincount confusion matrix, checked against a per-class re-derivation; GT helpers."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seglab import PanopticMap
from seglab.formats import FormatError, load_coco_gt
from seglab.metrics import (SemanticEvaluator, coco_to_voc_labels, confusion_matrix, panoptic_semantic_classes,
                            panoptic_to_semantic, semantic_metrics)
from seglab.datasets import get_label_set
from seglab.datasets.labels import VOC_COCO_CATEGORIES


@pytest.fixture(scope="module")
def panoptic_semantic(coco_root: Path) -> tuple[list[np.ndarray], list[dict]]:
    """The real panoptic slice as 133-class semantic ground truth."""
    data = json.loads((coco_root / "annotations" / "panoptic_val2017.json").read_text())
    cats = {c["id"]: c for c in data["categories"]}
    maps = [panoptic_to_semantic(PanopticMap.from_coco_panoptic(
        np.asarray(Image.open(coco_root / "annotations" / "panoptic_val2017" / a["file_name"])), a["segments_info"],
        cats), data["categories"]).labels for a in data["annotations"]]
    return maps, data["categories"]


def per_class_reference(gts: list[np.ndarray], preds: list[np.ndarray], c: int) -> tuple[np.ndarray, float]:
    """IoU per class and pixel accuracy with masks, one class at a time (ignore 255)."""
    g, p = np.concatenate([a.ravel() for a in gts]), np.concatenate([a.ravel() for a in preds])
    keep = g != 255
    g, p = g[keep], p[keep]
    iou = np.array([((g == k) & (p == k)).sum() / ((g == k) | (p == k)).sum() if ((g == k) | (p == k)).any()
                    else np.nan for k in range(c)])
    return iou, (g == p).mean()


def test_panoptic_to_semantic_on_real_data(coco_root, panoptic_semantic):
    maps, cats = panoptic_semantic
    names, mapping = panoptic_semantic_classes(cats)
    assert len(names) == 133 and mapping[1] == 0 and mapping[200] == 132
    data = json.loads((coco_root / "annotations" / "panoptic_val2017.json").read_text())
    a = data["annotations"][0]
    ids = np.asarray(Image.open(coco_root / "annotations" / "panoptic_val2017" / a["file_name"])).astype(np.int64)
    ids = ids[..., 0] + 256 * ids[..., 1] + 65536 * ids[..., 2]
    for s in a["segments_info"]:
        assert (maps[0][ids == s["id"]] == mapping[s["category_id"]]).all()
    assert (maps[0][ids == 0] == 255).all() and (ids == 0).any()


def test_miou_equals_per_class_reference_on_perturbed_real_data(panoptic_semantic):
    maps, cats = panoptic_semantic
    rng = np.random.default_rng(0)
    preds = []
    for m in maps:
        p = np.roll(m, (5, -7), (0, 1)).copy()
        noise = rng.random(m.shape) < 0.05
        p[noise] = rng.integers(0, 60, noise.sum())  # leaves some classes absent from both
        p[rng.random(m.shape) < 0.01] = 255  # unlabeled predictions count as misses
        preds.append(p)
    ev = SemanticEvaluator(133)
    for g, p in zip(maps, preds):
        ev.process(g, p)
    r = ev.evaluate()
    iou, acc = per_class_reference(maps, preds, 133)
    names = [str(i) for i in range(133)]
    for k in range(133):
        assert (math.isnan(r["IoU"][names[k]]) and np.isnan(iou[k])) or r["IoU"][names[k]] == pytest.approx(
            100 * iou[k], abs=1e-9)
    assert r["mIoU"] == pytest.approx(100 * np.nanmean(iou), abs=1e-9)
    assert r["pixel_acc"] == pytest.approx(100 * acc, abs=1e-9)
    assert r["n_classes"] == np.isfinite(iou).sum() < 133 and r["images"] == 3


def test_absent_classes_are_left_out_and_ignore_index_dropped():
    gt = np.array([[0, 0, 1, 255]])
    pred = np.array([[0, 1, 1, 2]])
    conf = confusion_matrix(gt, pred, 4)
    assert conf.shape == (4, 5) and conf.sum() == 3
    r = semantic_metrics(conf, ["a", "b", "c", "d"])
    assert r["IoU"]["a"] == 50 and r["IoU"]["b"] == 50 and math.isnan(r["IoU"]["c"]) and math.isnan(r["IoU"]["d"])
    assert r["mIoU"] == 50 and r["pixel_acc"] == pytest.approx(200 / 3) and r["mean_acc"] == 75
    with pytest.raises(FormatError, match="class ids \\[7\\] outside 0..3"):
        confusion_matrix(np.array([7]), np.array([0]), 4)
    with pytest.raises(FormatError, match="prediction is"):
        SemanticEvaluator(4).process(gt, pred[:, :2])


def test_voc_labels_follow_torchvision_rule_on_real_instances(coco_root):
    coco = load_coco_gt(coco_root / "annotations" / "instances_val2017.json")
    checked = 0
    for img_id, img in coco.imgs.items():
        anns = coco.imgToAnns[img_id]
        target = coco_to_voc_labels(anns, img["height"], img["width"])
        voc = [a for a in anns if a["category_id"] in VOC_COCO_CATEGORIES]
        masks = [coco.annToMask(a).astype(bool) for a in voc]
        count = np.sum(masks, 0) if masks else np.zeros(target.shape)
        assert ((target == 255) == (count > 1)).all()
        assert ((target == 0) == (count == 0)).all()
        for a, m in zip(voc, masks):
            alone = m & (count == 1)
            assert (target[alone] == VOC_COCO_CATEGORIES.index(a["category_id"])).all()
        checked += bool(voc)
    assert checked > 10 and len(get_label_set("voc-21").names) == 21


def test_per_class_f1_equals_scikit_learns_over_every_pixel(panoptic_semantic):
    """F1 of each class over the whole set: scikit-learn's f1_score on the pooled pixels (void left out), on real
    COCO panoptic maps and perturbed predictions; a class in neither has no F1 (NaN) rather than sklearn's 0."""
    from sklearn.metrics import f1_score

    maps, _ = panoptic_semantic
    rng = np.random.default_rng(1)
    preds = [np.where(rng.random(m.shape) < 0.9, np.roll(m, 9, 1), rng.integers(0, 133, m.shape)) for m in maps]
    ev = SemanticEvaluator(133)
    for g, p in zip(maps, preds):
        ev.process(g, np.where(p == 255, 200, p))  # void shifted in: a prediction outside the classes, a miss
    g = np.concatenate([m.ravel() for m in maps])
    p = np.concatenate([np.where(m == 255, 200, m).ravel() for m in preds])
    keep = g != 255
    present = sorted(set(g[keep]) | set(p[keep]) - {200})
    reference = f1_score(g[keep], p[keep], labels=present, average=None) * 100
    f1 = ev.evaluate()["F1"]
    assert [f1[str(c)] for c in present] == pytest.approx(list(reference), abs=1e-9)
    assert sum(math.isnan(v) for v in f1.values()) == 133 - len(present)
