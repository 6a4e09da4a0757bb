"""Data the metric benchmark and the metric tests score: perturbed copies of the real COCO panoptic slice, and a
synthetic COCO instances set of any size (val2017's at its default) with plausible wrong predictions.

``benchmarks.metric_speed`` times seglab's metrics against the reference tools on it; the tests
(``tests/metric_references.py`` holds their reference calls) check the numbers on it. Seeded: the same arguments
give the same data.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from seglab.formats import read_panoptic_png, write_json
from seglab.results import id_to_rgb

# ----------------------------------------------------------------------------- panoptic: the real slice, perturbed

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

# ----------------------------------------------------------------------------- instances: synthetic, any size

VAL2017_OBJECTS = 38_200 / 5000
"""Ground-truth masks an image in the synthetic set: 38,200 at val2017's 5000 images."""


def _polygons(rng: np.random.Generator, n: int, size: tuple[int, int]) -> np.ndarray:
    """``n`` random 10-gons (n x 10 x 2 vertices, x y) inside an image of ``size`` (H, W): radii log-uniform from
    4 to 150 px (small, medium and large COCO areas), aspect ratios from 1:2 to 2:1."""
    h, w = size
    centre = rng.uniform((0, 0), (w, h), (n, 1, 2))
    angles = np.sort(rng.uniform(0, 2 * np.pi, (n, 10)), axis=1)
    r = np.exp(rng.uniform(np.log(4), np.log(150), (n, 1))) * rng.uniform(0.7, 1.3, (n, 10))
    aspect = rng.uniform(0.5, 2, (n, 1))
    return centre + np.stack([r * np.cos(angles) * aspect, r * np.sin(angles) / aspect], -1)


def _flat(vertices: np.ndarray, size: tuple[int, int]) -> list[list[float]]:
    """COCO polygons (flat x, y lists, one decimal) of n x 10 x 2 vertices, clipped to the image."""
    h, w = size
    return np.round(np.clip(vertices, 0, (w, h)), 1).reshape(len(vertices), 20).tolist()


def _perturb(rng: np.random.Generator, vertices: np.ndarray) -> np.ndarray:
    """A plausible prediction of each polygon: shifted, scaled and each vertex moved (mask IoU with the original
    0.65 to 0.9 for 90% of them, median 0.8)."""
    centre = vertices.mean(1, keepdims=True)
    spread = np.abs(vertices - centre).mean((1, 2))[:, None, None]
    n = len(vertices)
    return (centre + rng.normal(0, 0.1, (n, 1, 2)) * spread + (vertices - centre) * rng.uniform(0.85, 1.15, (n, 1, 1))
            + rng.normal(0, 0.08, vertices.shape) * spread)


def _uncompressed(rle: dict) -> dict:
    """A compressed RLE as COCO's crowd annotations store it: column-major run lengths, starting with zeros."""
    flat = mask_utils.decode(rle).ravel(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]]))
    return {"size": rle["size"], "counts": ([0] if flat[0] else []) + runs.tolist()}


def synthetic_instances(images: int = 5000, detections: int = 100, seed: int = 0, size: tuple[int, int] = (480, 640),
                        crowd: float = 0.02) -> tuple[dict, list[dict]]:
    """A COCO instances ground truth of random polygons and ``detections`` results an image (compressed RLE).

    Ground truth: 80 categories, :data:`VAL2017_OBJECTS` objects an image on average, about 1% of the images with
    none (as val2017), a fraction ``crowd`` of the objects crowd regions (uncompressed RLE, as COCO stores them).
    Results: most objects found (shifted, scaled, reshaped), some twice, some with a wrong category; the rest
    false positives. Scores are random floats (no ties in practice).
    """
    rng = np.random.default_rng(seed)
    h, w = size
    categories = [{"id": c, "name": f"class {c}", "supercategory": "thing"} for c in range(1, 81)]
    has_objects = rng.random(images) >= 48 / 5000  # as val2017's 48 images without annotations
    has_objects[0] = True
    counts = rng.multinomial(round(VAL2017_OBJECTS * images), has_objects / has_objects.sum())
    gt_images, annotations, results = [], [], []
    for image_id, n in enumerate(counts.tolist(), start=1):
        gt_images.append({"id": image_id, "height": h, "width": w, "file_name": f"{image_id:012d}.jpg"})
        vertices = _polygons(rng, n, size)
        polygons = _flat(vertices, size)
        rles = mask_utils.frPyObjects(polygons, h, w) if n else []
        cats = rng.integers(1, 81, n)
        for poly, rle, cat in zip(polygons, rles, cats.tolist()):
            is_crowd = bool(rng.random() < crowd)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cat,
                                "iscrowd": int(is_crowd), "segmentation": _uncompressed(rle) if is_crowd else [poly],
                                "area": float(mask_utils.area(rle)), "bbox": mask_utils.toBbox(rle).tolist()})
        found = np.flatnonzero(rng.random(n) < 0.85)
        found = np.concatenate([found, found[rng.random(len(found)) < 0.2]])[:detections]  # some found twice
        k = len(found)
        guesses = np.concatenate([_perturb(rng, vertices[found]), _polygons(rng, detections - k, size)])
        pred_cats = np.concatenate([np.where(rng.random(k) < 0.9, cats[found], rng.integers(1, 81, k)),
                                    rng.integers(1, 81, detections - k)])
        scores = np.concatenate([rng.uniform(0.3, 1, k), rng.uniform(0, 0.6, detections - k)])
        for rle, cat, score in zip(mask_utils.frPyObjects(_flat(guesses, size), h, w), pred_cats.tolist(),
                                   scores.tolist()):
            results.append({"image_id": image_id, "category_id": cat, "score": score,
                            "segmentation": {"size": [h, w], "counts": rle["counts"].decode("ascii")}})
    return {"images": gt_images, "annotations": annotations, "categories": categories}, results
