"""Perturbed predictions and the reference tools' numbers: what the metric tests and ``benchmarks.metric_speed``
check seglab's metrics against (panopticapi's ``pq_compute``, plain pycocotools ``COCOeval``).

Tests import it as ``metric_references`` (``tests/`` is on their path), the benchmark as ``tests.metric_references``.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from seglab.formats import read_panoptic_png, write_json
from seglab.results import id_to_rgb


# ----------------------------------------------------------------------------- perturbations

def perturb_panoptic(ids: np.ndarray, segments: list[dict], category_ids: list[int],
                     rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """A plausible wrong prediction: drop, shift, cut, relabel and merge segments, add false positives,
    leave some pixels void, and give every segment a fresh random id."""
    out = ids.astype(np.int64).copy()
    h, w = out.shape
    cats = {s["id"]: s["category_id"] for s in segments}
    for s in segments:
        _perturb_segment(out, s, cats, category_ids, rng)
    by_cat: dict[int, list[int]] = {}
    for sid in np.unique(out):
        if sid:
            by_cat.setdefault(cats[int(sid)], []).append(int(sid))
    for group in by_cat.values():  # merge
        if len(group) > 1 and rng.random() < 0.4:
            out[out == group[1]] = group[0]
    for _ in range(int(rng.integers(1, 4))):  # false positives
        y0, x0 = rng.integers(0, h - 20), rng.integers(0, w - 20)
        new = int(out.max()) + 1
        out[y0:y0 + int(rng.integers(10, h // 3)), x0:x0 + int(rng.integers(10, w // 3))] = new
        cats[new] = int(rng.choice(category_ids))
    present, area = np.unique(out, return_counts=True)
    fresh = rng.choice(np.arange(1, 2**24), size=len(present), replace=False)
    remap = {int(p): int(f) for p, f in zip(present, fresh) if p}
    lut_keys, inv = np.unique(out, return_inverse=True)
    out = np.array([remap.get(int(k), 0) for k in lut_keys], np.int64)[inv].reshape(h, w)
    info = [{"id": remap[int(p)], "category_id": cats[int(p)], "iscrowd": 0, "area": int(a)}
            for p, a in zip(present, area) if p]
    return out, info


def _perturb_segment(out: np.ndarray, s: dict, cats: dict[int, int], category_ids: list[int],
                     rng: np.random.Generator) -> None:
    """Drop, shift, relabel or cut one segment of the id map ``out`` in place (``cats``: id -> category)."""
    m = out == s["id"]
    if not m.any():  # covered by an earlier shift
        return
    r = rng.random()
    if r < 0.12:  # drop
        out[m] = 0
    elif r < 0.27:  # shift over its neighbours
        dy, dx = rng.integers(-25, 26, 2)
        out[m] = 0
        out[np.roll(m, (dy, dx), (0, 1))] = s["id"]
    elif r < 0.37:  # relabel
        cats[s["id"]] = int(rng.choice(category_ids))
    elif r < 0.5:  # cut a band off, to land near IoU 0.5
        ys = np.flatnonzero(m.any(1))
        cut = ys[0] + int((ys[-1] - ys[0]) * rng.uniform(0.3, 0.7))
        m[:cut] = False
        if rng.random() < 0.5:
            out[m] = 0
        else:  # split: the band becomes its own segment
            new = int(out.max()) + 1
            out[m], cats[new] = new, s["category_id"]


def mark_crowd(segments: list[dict], things: set[int], rng: np.random.Generator, p: float = 0.25) -> list[dict]:
    """Ground truth with some thing segments marked as crowd."""
    return [{**s, "iscrowd": 1} if s["category_id"] in things and rng.random() < p else dict(s) for s in segments]


def save_id_png(path: Path, ids: np.ndarray) -> None:
    """Write a panoptic id map as panopticapi does (PIL, RGB, id = R + 256 G + 256^2 B)."""
    Image.fromarray(id_to_rgb(ids)).save(path)


def write_perturbed_panoptic(root: Path, out: Path, copies: int = 0, seed: int = 0) -> tuple[Path, Path]:
    """Ground truth (the real slice with some crowds, plus ``copies`` perturbed copies of each image) and a
    perturbed prediction of it, as two COCO panoptic JSON + PNG folders under ``out``. Returns both JSONs."""
    rng = np.random.default_rng(seed)
    gt = json.loads((root / "annotations" / "panoptic_val2017.json").read_text())
    category_ids = [c["id"] for c in gt["categories"]]
    things = {c["id"] for c in gt["categories"] if c["isthing"]}
    sizes = {im["id"]: im for im in gt["images"]}
    (out / "gt").mkdir(parents=True, exist_ok=True)
    (out / "pred").mkdir(parents=True, exist_ok=True)
    images, gt_anns, pred_anns = [], [], []
    for copy in range(copies + 1):
        for ann in gt["annotations"]:
            ids = read_panoptic_png(root / "annotations" / "panoptic_val2017" / ann["file_name"]).astype(np.int64)
            segs = ann["segments_info"]
            if copy:  # a new ground-truth image: a perturbed copy, its areas from its pixels
                ids, segs = perturb_panoptic(ids, segs, category_ids, rng)
            image_id = ann["image_id"] + 10**7 * copy
            name = f"{image_id:012d}.png"
            segs = mark_crowd(segs, things, rng)
            pred_ids, pred_segs = perturb_panoptic(ids, segs, category_ids, rng)
            save_id_png(out / "gt" / name, ids)
            save_id_png(out / "pred" / name, pred_ids)
            images.append({**sizes[ann["image_id"]], "id": image_id, "file_name": name.replace(".png", ".jpg")})
            gt_anns.append({"image_id": image_id, "file_name": name, "segments_info": segs})
            pred_anns.append({"image_id": image_id, "file_name": name, "segments_info": pred_segs})
    write_json(out / "gt.json", {"images": images, "annotations": gt_anns, "categories": gt["categories"]})
    write_json(out / "pred.json", {"images": images, "annotations": pred_anns, "categories": gt["categories"]})
    return out / "gt.json", out / "pred.json"


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


def reference_coco(gt_json: Path, pred_json: Path, use_cats: bool = True) -> np.ndarray:
    """Plain pycocotools: COCO, loadRes, COCOeval (``useCats`` as given); its 12 stats."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_json))
        ev = COCOeval(gt, gt.loadRes(str(pred_json)), "segm")
        ev.params.useCats = int(use_cats)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats
