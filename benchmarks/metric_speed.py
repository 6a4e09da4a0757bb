"""Speed and agreement of seglab's metrics against the reference tools, on the same files, in one run.

    python -m benchmarks.metric_speed [--copies 40] [--repeats 3]

- PQ: seglab's ``pq_compute_files`` against panopticapi's ``pq_compute`` (process pool included),
  timed as whole processes (interpreter start, imports, JSON, PNG decoding), as in-process calls,
  and per image on one core next to the time decoding that image's two PNGs takes (the floor both
  share), best of ``--repeats``. Ground truth: the real COCO panoptic slice plus ``--copies`` perturbed copies
  of its PNGs (written to a temporary folder), predictions: perturbed copies of those.
- AR@100 (class-agnostic) and AP: ``coco_instance_metrics`` against plain pycocotools COCOeval on
  the real instances slice and perturbed predictions.

Prints the times and ratios, and asserts the numbers are identical (to 1e-9). Needs panopticapi-lite
(a test-only dependency). The perturbation helpers here are also used by the tests.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from seglab.formats import read_panoptic_png, write_json
from seglab.metrics import COCO_STATS, coco_instance_metrics, pq_compute_files

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-val2017-mini"


# ----------------------------------------------------------------------------- perturbations

def perturb_panoptic(ids: np.ndarray, segments: list[dict], category_ids: list[int],
                     rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """A plausible wrong prediction: drop, shift, cut, relabel and merge segments, add false positives,
    leave some pixels void, and give every segment a fresh random id."""
    out = ids.astype(np.int64).copy()
    h, w = out.shape
    cats = {s["id"]: s["category_id"] for s in segments}
    for s in segments:
        m = out == s["id"]
        if not m.any():  # covered by an earlier shift
            continue
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


def mark_crowd(segments: list[dict], things: set[int], rng: np.random.Generator, p: float = 0.25) -> list[dict]:
    """Ground truth with some thing segments marked as crowd."""
    return [{**s, "iscrowd": 1} if s["category_id"] in things and rng.random() < p else dict(s) for s in segments]


def save_id_png(path: Path, ids: np.ndarray) -> None:
    """Write a panoptic id map as panopticapi does (PIL, RGB, id = R + 256 G + 256^2 B)."""
    ids = ids.astype(np.uint32)
    Image.fromarray(np.stack([ids & 255, ids >> 8 & 255, ids >> 16 & 255], -1).astype(np.uint8)).save(path)


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


def _best(fn, repeats: int) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t)
    return best, value


REFERENCE_PROCESS = """import contextlib, io, json, sys
from panopticapi.evaluation import pq_compute
with contextlib.redirect_stdout(io.StringIO()):
    r = pq_compute(sys.argv[1], sys.argv[2])
json.dump({"PQ": 100 * r["All"]["pq"], "PQ_th": 100 * r["Things"]["pq"], "PQ_st": 100 * r["Stuff"]["pq"]},
          open(sys.argv[3], "w"))
"""
SEGLAB_PROCESS = """import json, sys
from seglab.metrics import pq_compute_files
r = pq_compute_files(sys.argv[1], sys.argv[2])
json.dump({k: r[k] for k in ("PQ", "PQ_th", "PQ_st")}, open(sys.argv[3], "w"))
"""


def _process(code: str, *args: Path) -> tuple[float, float, dict]:
    """(wall s, CPU s of the process and its children, its JSON output) of one whole Python process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, stdout=subprocess.DEVNULL,
                   cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, json.loads(args[-1].read_text())


def one_core(gt_json: Path, pred_json: Path, repeats: int) -> dict[str, float]:
    """Per image pair on one core (best of ``repeats``, ms): both scorers, and decoding the two PNGs alone as
    each reads them (Pillow + ``np.array`` for panopticapi, OpenCV for seglab): the floor they share."""
    from panopticapi.evaluation import pq_compute_single_core

    gt, pred = json.loads(gt_json.read_text()), json.loads(pred_json.read_text())
    by_image = {a["image_id"]: a for a in pred["annotations"]}
    pairs = [(a, by_image[a["image_id"]]) for a in gt["annotations"]]
    pngs = [(gt_json.with_suffix("") / g["file_name"], pred_json.with_suffix("") / p["file_name"]) for g, p in pairs]
    cats = {c["id"]: c for c in gt["categories"]}

    def reference() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            pq_compute_single_core(0, pairs, str(gt_json.with_suffix("")), str(pred_json.with_suffix("")), cats)

    times = {"ref": _best(reference, repeats)[0],
             "ours": _best(lambda: pq_compute_files(gt_json, pred_json, workers=1), repeats)[0],
             "ref_decode": _best(lambda: [np.array(Image.open(f), np.uint32) for pair in pngs for f in pair],
                                 repeats)[0],
             "ours_decode": _best(lambda: [read_panoptic_png(f) for pair in pngs for f in pair], repeats)[0]}
    return {k: 1000 * v / len(pairs) for k, v in times.items()}


def time_pq(gt_json: Path, pred_json: Path, repeats: int) -> dict[str, float]:
    """Both implementations as whole processes (interleaved, best of ``repeats``) and in process; checks
    that every PQ / SQ / RQ agrees to 1e-9."""
    ref, ours = reference_pq(gt_json, pred_json), pq_compute_files(gt_json, pred_json)
    for key, name in (("", "All"), ("_th", "Things"), ("_st", "Stuff")):
        for m in ("PQ", "SQ", "RQ"):
            assert abs(ours[m + key] - 100 * ref[name][m.lower()]) < 1e-9, (m + key, ours[m + key], ref[name])
    out = gt_json.parent / "process.json"
    runs: dict[str, list[tuple[float, float]]] = {"ref": [], "ours": []}
    for _ in range(repeats):
        for name, code in (("ref", REFERENCE_PROCESS), ("ours", SEGLAB_PROCESS)):
            wall, cpu, numbers = _process(code, gt_json, pred_json, out)
            assert abs(numbers["PQ"] - ours["PQ"]) < 1e-9, (name, numbers, ours["PQ"])
            runs[name].append((wall, cpu))
    t_ref, _ = _best(lambda: reference_pq(gt_json, pred_json), repeats)
    t_ours, _ = _best(lambda: pq_compute_files(gt_json, pred_json), repeats)
    return {"PQ": ours["PQ"], "images": ours["images"],
            "ref_wall": min(w for w, _ in runs["ref"]), "ours_wall": min(w for w, _ in runs["ours"]),
            "ref_cpu": min(c for _, c in runs["ref"]), "ours_cpu": min(c for _, c in runs["ours"]),
            "ref_call": t_ref, "ours_call": t_ours}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--copies", type=int, default=40, help="perturbed copies of each real panoptic image")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if importlib.util.find_spec("panopticapi") is None:
        sys.exit("metric_speed times PQ against panopticapi: pip install --no-deps panopticapi-lite==0.2.0")
    print(f"{os.cpu_count()} CPUs (panopticapi's pool uses all), load average {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        real = tmp / "real"
        real.mkdir()
        real_pred = write_perturbed_panoptic(args.data, tmp / "real_perturbed", 0)[1]
        shutil.copytree(real_pred.with_suffix(""), real / "pred")
        shutil.copy(real_pred, real / "pred.json")
        shutil.copytree(args.data / "annotations" / "panoptic_val2017", real / "gt")
        shutil.copy(args.data / "annotations" / "panoptic_val2017.json", real / "gt.json")
        sets = {"real slice": (real / "gt.json", real / "pred.json"),
                f"{args.copies} perturbed copies": write_perturbed_panoptic(args.data, tmp / "pan", args.copies)}
        for label, (gt_json, pred_json) in sets.items():
            r = time_pq(gt_json, pred_json, args.repeats)
            print(f"PQ, {label} ({r['images']} images): {r['PQ']:.4f}, identical to panopticapi (1e-9)")
            print(f"  whole process wall: panopticapi {r['ref_wall']:.3f} s, seglab {r['ours_wall']:.3f} s, "
                  f"speed-up {r['ref_wall'] / r['ours_wall']:.2f}x")
            print(f"  whole process CPU:  panopticapi {r['ref_cpu']:.3f} s, seglab {r['ours_cpu']:.3f} s, "
                  f"ratio {r['ref_cpu'] / r['ours_cpu']:.2f}x")
            print(f"  in-process call:    panopticapi {r['ref_call']:.3f} s, seglab {r['ours_call']:.3f} s, "
                  f"speed-up {r['ref_call'] / r['ours_call']:.2f}x")
            c = one_core(gt_json, pred_json, args.repeats)
            print(f"  one core, per image: panopticapi {c['ref']:.2f} ms, seglab {c['ours']:.2f} ms, speed-up "
                  f"{c['ref'] / c['ours']:.2f}x; decoding its two PNGs alone takes {c['ref_decode']:.2f} ms "
                  f"(Pillow) and {c['ours_decode']:.2f} ms (OpenCV)")

        rng = np.random.default_rng(0)
        gt_data = crowd_gt(json.loads((args.data / "annotations" / "instances_val2017.json").read_text()), rng)
        inst_gt = write_json(tmp / "instances.json", gt_data)
        with contextlib.redirect_stdout(io.StringIO()):
            preds = perturb_instances(COCO(str(inst_gt)), rng)
        inst_pred = write_json(tmp / "results.json", preds)
        for label, agnostic in (("AR@100 class-agnostic", True), ("AP (per class)", False)):
            t_plain, stats = _best(lambda: reference_coco(inst_gt, inst_pred, use_cats=not agnostic), args.repeats)
            t_mine, named = _best(lambda: coco_instance_metrics(inst_gt, inst_pred, class_agnostic=agnostic),
                                  args.repeats)
            for key, value in zip(COCO_STATS, stats):
                assert abs(named[key] - 100 * value) < 1e-9 if value >= 0 else np.isnan(named[key]), key
            key = "AR@100" if agnostic else "AP"
            print(f"{label}, {len(gt_data['images'])} images, {len(preds)} predictions: {key} {named[key]:.4f}, "
                  "all 12 numbers identical to pycocotools (1e-9)")
            print(f"  pycocotools {t_plain:.3f} s, seglab {t_mine:.3f} s, speed-up {t_plain / t_mine:.2f}x")


if __name__ == "__main__":
    main()
