"""The reference tools' numbers (panopticapi's ``pq_compute``, plain pycocotools ``COCOeval``) and perturbed
instance predictions of the real slice: what the metric tests check seglab's metrics against.

Tests import it as ``metric_references`` (``tests/`` is on their path). The perturbed panoptic copies of the real
slice are also what ``benchmarks.metric_speed`` times, so they live in ``benchmarks.metric_data`` (benchmarks never
import tests); they are re-exported here for the tests that import them from this module.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchmarks.metric_data import perturb_panoptic, save_id_png, write_perturbed_panoptic

__all__ = ["crowd_gt", "perturb_instances", "perturb_panoptic", "reference_coco", "reference_pq", "save_id_png",
           "write_perturbed_panoptic"]


# ----------------------------------------------------------------------------- perturbations

def perturb_instances(gt: COCO, rng: np.random.Generator) -> list[dict]:
    """COCO results for ``gt``: masks dropped, shifted, merged, relabelled, random scores, false positives."""
    cat_ids = sorted(gt.cats)
    results = []
    for img_id in sorted(gt.imgs):
        h, w = gt.imgs[img_id]["height"], gt.imgs[img_id]["width"]
        masks = [(gt.annToMask(a).astype(bool), a["category_id"]) for a in gt.imgToAnns[img_id]]
        for i, (m, cat) in enumerate(masks):
            r = rng.random()
            if r < 0.15:
                continue
            if r < 0.45:
                m = np.roll(m, tuple(rng.integers(-15, 16, 2)), (0, 1))
            elif r < 0.55:
                cat = int(rng.choice(cat_ids))
            elif r < 0.65 and len(masks) > 1:
                m = m | masks[(i + 1) % len(masks)][0]
            results.append((img_id, m, cat))
        for _ in range(int(rng.integers(1, 3))):
            m = np.zeros((h, w), bool)
            y0, x0 = rng.integers(0, h - 10), rng.integers(0, w - 10)
            m[y0:y0 + int(rng.integers(5, h // 2)), x0:x0 + int(rng.integers(5, w // 2))] = True
            results.append((img_id, m, int(rng.choice(cat_ids))))
    scores = rng.permutation(len(results)) / max(len(results), 1)  # distinct, so no ties to break
    out = []
    for (img_id, m, cat), score in zip(results, scores):
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        out.append({"image_id": img_id, "category_id": cat, "segmentation": rle, "score": float(score) + 0.01})
    return out


def crowd_gt(gt: dict, rng: np.random.Generator, p: float = 0.1) -> dict:
    """A copy of an instances dataset with some annotations marked as crowd."""
    return {**gt, "annotations": [{**a, "iscrowd": 1} if rng.random() < p else a for a in gt["annotations"]]}


# ----------------------------------------------------------------------------- references

def reference_pq(gt_json: Path, pred_json: Path) -> dict:
    """panopticapi's ``pq_compute`` (its output swallowed)."""
    from panopticapi.evaluation import pq_compute

    with contextlib.redirect_stdout(io.StringIO()):
        return pq_compute(str(gt_json), str(pred_json))


def reference_coco(gt: Path | dict, predictions: Path | list[dict], use_cats: bool = True, iou_type: str = "segm",
                   image_ids: Iterable[int] | None = None) -> np.ndarray:
    """Plain pycocotools: COCO, loadRes, COCOeval (``useCats``, ``iouType`` and ``imgIds`` as given); its 12 stats.

    ``gt``: a JSON path or a dataset dict (used as is); ``predictions``: a JSON path or entries (copied, as loadRes
    edits them). An empty list becomes a results COCO with no annotations: loadRes cannot read one.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt)) if isinstance(gt, Path) else COCO()
        if not isinstance(gt, Path):
            coco.dataset = gt
            coco.createIndex()
        if isinstance(predictions, list) and not predictions:
            dt = COCO()
            dt.dataset = {"images": coco.dataset["images"], "categories": coco.dataset["categories"], "annotations": []}
            dt.createIndex()
        else:
            dt = coco.loadRes(str(predictions) if isinstance(predictions, Path) else [dict(p) for p in predictions])
        ev = COCOeval(coco, dt, iou_type)
        ev.params.useCats = int(use_cats)
        if image_ids is not None:
            ev.params.imgIds = sorted(set(image_ids))
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats
