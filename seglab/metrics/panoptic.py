"""Panoptic quality (PQ, SQ, RQ) following panopticapi's ``pq_compute`` rules exactly, vectorised.

Rules (Kirillov et al. 2019, as coded in cocodataset/panopticapi ``evaluation.py``):

- a ground-truth and a predicted segment of the same category match when IoU > 0.5, where the
  union leaves out the predicted pixels that fall on VOID (id 0) in the ground truth;
- ground-truth crowd segments are never matched and never false negatives;
- an unmatched prediction is not a false positive when more than half of it lies on VOID plus the
  (last-listed) crowd region of its category;
- ground-truth areas come from the JSON ``area`` field when every segment has one (as panopticapi
  reads them), else from the pixels; predicted areas always come from the pixels;
- a category enters the averages only when it has any TP, FP or FN.

Per image, ids are made compact (searchsorted against the JSON's ids), and one ``bincount`` over
``gt_index * K + pred_index`` gives every intersection at once; no Python loop touches pixels.
Numbers are returned in percent (PQ 100 is perfect), as papers and detectron2 report them.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from ..formats import (FormatError, PathLike, Scratch, image_sizes, iter_panoptic_pairs, read_coco_panoptic,
                       read_panoptic_png)
from ..results import PanopticMap


_LUT_SIZE = 2**24  # every id a COCO panoptic PNG can hold
_local = threading.local()  # per-thread id -> index table: one gather instead of a searchsorted (commit 4925a2e)


def _compact(ids: np.ndarray, known: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Per pixel: ``i + 1`` for the id ``known[i]`` (sorted, length n), ``n + 1`` for VOID (0), 0 for ids
    not in ``known``. ``out``: a flat uint16 array of ``ids.size`` to write into (on the fast path).

    A per-thread 2^24-entry lookup table makes this one gather. It is allocated zeroed (the kernel
    maps its pages lazily, so only the pages of ids that occur are ever touched) and set back to
    zero after each call; ids beyond 24 bits or 65,000 segments fall back to ``searchsorted``.
    """
    n = len(known)
    flat = ids.reshape(-1)
    if n + 2 < 2**16 and (n == 0 or known[-1] < _LUT_SIZE) and flat.min(initial=0) >= 0 and \
            flat.max(initial=0) < _LUT_SIZE:
        lut = getattr(_local, "lut", None)
        if lut is None:
            lut = _local.lut = np.zeros(_LUT_SIZE, np.uint16)
        lut[known], lut[0] = np.arange(1, n + 1), n + 1
        out = lut.take(flat, out=out)  # faster than lut[flat] for a 1-D gather
        lut[known], lut[0] = 0, 0
        return out
    pos = np.minimum(np.searchsorted(known, flat), max(n - 1, 0))
    hit = known[pos] == flat if n else np.zeros(flat.shape, bool)
    return np.where(flat == 0, n + 1, np.where(hit, pos + 1, 0))


def _segments(info: Sequence[Mapping[str, Any]] | PanopticMap) -> list[Mapping[str, Any]]:
    if isinstance(info, PanopticMap):
        return [{"id": s.id, "category_id": s.category_id, "iscrowd": int(s.iscrowd)} for s in info.segments]
    return list(info)


class PanopticEvaluator:
    """Streaming PQ: ``reset()``, ``process(gt, pred)`` once per image, ``evaluate()``.

    ``categories``: the ground truth's category list (dicts with id, isthing, optional name) or an
    id -> dict mapping. ``process`` takes two :class:`PanopticMap` s; ``process_arrays`` takes decoded
    segment-id arrays and COCO ``segments_info`` lists (what the on-disk format holds). ``merge`` adds
    the counts of another evaluator of the same categories (one per worker or rank).
    """

    def __init__(self, categories: Iterable[Mapping[str, Any]] | Mapping[int, Mapping[str, Any]]):
        cats = list(categories.values()) if isinstance(categories, Mapping) else list(categories)
        self.category_ids = np.array([int(c["id"]) for c in cats], np.int64)
        self.names = {int(c["id"]): c.get("name", str(c["id"])) for c in cats}
        self.isthing = np.array([int(c.get("isthing", 1)) == 1 for c in cats])
        self._index = {int(c["id"]): i for i, c in enumerate(cats)}
        self._scratch = Scratch()  # image-sized arrays reused across images: no page faults per image (09e67d9)
        self.reset()

    def reset(self) -> None:
        c = len(self.category_ids)
        self.iou = np.zeros(c, np.float64)
        self.tp, self.fp, self.fn = (np.zeros(c, np.int64) for _ in range(3))
        self.images = 0

    def process(self, gt: PanopticMap, pred: PanopticMap) -> None:
        """Score one image given as typed results (ground-truth areas counted from its pixels)."""
        self.process_arrays(gt.segment_ids, _segments(gt), pred.segment_ids, _segments(pred))

    def process_arrays(self, gt_ids: np.ndarray, gt_segments: Sequence[Mapping[str, Any]] | PanopticMap,
                       pred_ids: np.ndarray, pred_segments: Sequence[Mapping[str, Any]] | PanopticMap,
                       image: str = "") -> None:
        """Score one image: H x W id arrays and their ``segments_info`` (id, category_id, iscrowd, area)."""
        stats = image_stats(gt_ids, _segments(gt_segments), pred_ids, _segments(pred_segments), self._index, image,
                            self._scratch)
        for total, value in zip((self.iou, self.tp, self.fp, self.fn), stats):
            total += value
        self.images += 1

    def merge(self, other: PanopticEvaluator) -> None:
        """Add ``other``'s counts (the same categories, in the same order) to this evaluator's."""
        if not np.array_equal(other.category_ids, self.category_ids):
            raise ValueError("only evaluators of the same categories can be merged")
        for mine, theirs in ((self.iou, other.iou), (self.tp, other.tp), (self.fp, other.fp), (self.fn, other.fn)):
            mine += theirs
        self.images += other.images

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "_scratch"}  # sent back by worker processes: no buffers

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state, _scratch=Scratch())

    def evaluate(self) -> dict[str, Any]:
        """PQ/SQ/RQ (percent) and category counts for all, things (``_th``) and stuff (``_st``), plus per class."""
        tp, fp, fn, iou = self.tp, self.fp, self.fn, self.iou
        out: dict[str, Any] = {}
        for suffix, keep in (("", None), ("_th", True), ("_st", False)):
            pq = sq = rq = 0.0
            n = 0
            for i in range(len(self.category_ids)):
                if (keep is not None and self.isthing[i] != keep) or tp[i] + fp[i] + fn[i] == 0:
                    continue
                n += 1
                denom = tp[i] + 0.5 * fp[i] + 0.5 * fn[i]
                pq += iou[i] / denom
                sq += iou[i] / tp[i] if tp[i] else 0.0
                rq += tp[i] / denom
            nan = float("nan")
            out.update({f"PQ{suffix}": 100 * pq / n if n else nan, f"SQ{suffix}": 100 * sq / n if n else nan,
                        f"RQ{suffix}": 100 * rq / n if n else nan, f"n{suffix}": n})
        out["images"] = self.images
        out["per_class"] = {int(cid): self._class_row(i) for i, cid in enumerate(self.category_ids)}
        return out

    def _class_row(self, i: int) -> dict[str, Any]:
        tp, fp, fn, iou = int(self.tp[i]), int(self.fp[i]), int(self.fn[i]), float(self.iou[i])
        denom = tp + 0.5 * fp + 0.5 * fn
        return {"name": self.names[int(self.category_ids[i])], "isthing": bool(self.isthing[i]),
                "PQ": 100 * iou / denom if denom else 0.0, "SQ": 100 * iou / tp if tp else 0.0,
                "RQ": 100 * tp / denom if denom else 0.0, "TP": tp, "FP": fp, "FN": fn}


def image_stats(gt_ids: np.ndarray, gt_segments: Sequence[Mapping[str, Any]], pred_ids: np.ndarray,
                pred_segments: Sequence[Mapping[str, Any]], category_index: Mapping[int, int],
                image: str = "", scratch: Scratch | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-category (IoU sum, TP, FP, FN) of one image; ``category_index`` maps category id -> row.

    ``scratch``: this thread's reusable image-sized arrays (see :class:`~seglab.formats.Scratch`).
    """
    where = f" in image {image}" if image else ""
    if gt_ids.shape != pred_ids.shape:
        raise FormatError(f"prediction{where} is {pred_ids.shape[0]}x{pred_ids.shape[1]} but the ground truth is "
                          f"{gt_ids.shape[0]}x{gt_ids.shape[1]}")
    c = len(category_index)
    g_order = np.argsort([s["id"] for s in gt_segments], kind="stable")
    gt_segs = [gt_segments[i] for i in g_order]
    p_order = np.argsort([s["id"] for s in pred_segments], kind="stable")
    pred_segs = [pred_segments[i] for i in p_order]
    g_known = np.array([s["id"] for s in gt_segs], np.int64)
    p_known = np.array([s["id"] for s in pred_segs], np.int64)
    ng, np_ = len(g_known), len(p_known)

    kp = np_ + 2  # rows (gt) and columns (pred) of the table: unknown id, the segments, VOID
    scratch = scratch if scratch is not None else Scratch()
    n = gt_ids.size
    pair_index = scratch.get("pair", (n,), np.intp)
    np.copyto(pair_index, _compact(gt_ids, g_known, scratch.get("compact", (n,), np.uint16)))
    pair_index *= kp
    pair_index += _compact(pred_ids, p_known, scratch.get("compact", (n,), np.uint16))
    table = np.bincount(pair_index, minlength=(ng + 2) * kp).reshape(ng + 2, kp)
    pred_area = table[:, 1:np_ + 1].sum(0)
    if table[:, 0].any():
        stray = np.setdiff1d(np.unique(pred_ids), np.append(p_known, 0))
        raise FormatError(f"prediction{where}: segment ids {stray[:5].tolist()} are in the PNG but not in the JSON")
    if (pred_area == 0).any():
        raise FormatError(f"prediction{where}: segment ids {p_known[pred_area == 0][:5].tolist()} are in the JSON "
                          "but not in the PNG")
    g_cat = np.array([category_index.get(s["category_id"], -1) for s in gt_segs], np.int64)
    p_cat = np.array([category_index.get(s["category_id"], -1) for s in pred_segs], np.int64)
    if (p_cat < 0).any():
        bad = [s["category_id"] for s in pred_segs if s["category_id"] not in category_index]
        raise FormatError(f"prediction{where} has unknown category ids {sorted(set(bad))[:5]}")
    crowd = np.array([bool(s.get("iscrowd", 0)) for s in gt_segs], bool)
    if all("area" in s for s in gt_segs):
        gt_area = np.array([s["area"] for s in gt_segs], np.int64)
    else:
        gt_area = table[1:ng + 1].sum(1)

    inter = table[1:ng + 1, 1:np_ + 1]
    on_void = table[ng + 1, 1:np_ + 1]
    pair = (inter > 0) & (g_cat[:, None] == p_cat[None, :]) & ~crowd[:, None]
    gi, pi = np.nonzero(pair)
    iou = inter[gi, pi] / (pred_area[pi] + gt_area[gi] - inter[gi, pi] - on_void[pi])
    ok = iou > 0.5
    gi, pi, iou = gi[ok], pi[ok], iou[ok]
    cats = g_cat[gi]
    keep = cats >= 0
    iou_sum = np.bincount(cats[keep], weights=iou[keep], minlength=c)
    tp = np.bincount(cats[keep], minlength=c)

    g_unmatched = np.ones(ng, bool)
    g_unmatched[gi] = False
    missed = g_cat[g_unmatched & ~crowd]
    fn = np.bincount(missed[missed >= 0], minlength=c)

    rank = np.empty(ng, np.int64)
    rank[g_order] = np.arange(ng)
    crowd_of_cat = {}  # category row -> compact gt index of its crowd region (the last listed, as panopticapi)
    for j, s in enumerate(gt_segments):
        if s.get("iscrowd", 0):
            crowd_of_cat[category_index.get(s["category_id"], -1)] = int(rank[j])
    p_unmatched = np.ones(np_, bool)
    p_unmatched[pi] = False
    ignored = on_void.astype(np.int64)
    if crowd_of_cat:
        rows = np.array([crowd_of_cat.get(int(k), -1) for k in p_cat], np.int64)
        ignored = ignored + np.where(rows >= 0, inter[rows, np.arange(np_)], 0)
    false_pos = p_unmatched & ~(ignored / np.maximum(pred_area, 1) > 0.5)
    fp = np.bincount(p_cat[false_pos], minlength=c)
    return iou_sum, tp, fp, fn


def _score_chunk(pairs: Sequence[tuple[dict, Path, dict, Path]], sizes: Mapping[int, tuple[int, int]],
                 categories: list[dict]) -> PanopticEvaluator:
    """An evaluator that has read and scored some image pairs from disk (in a worker thread or process)."""
    evaluator, scratch = PanopticEvaluator(categories), Scratch()  # this worker's decoding buffers
    for g, g_png, p, p_png in pairs:
        gt_ids = read_panoptic_png(g_png, sizes.get(g["image_id"]), scratch, "gt")
        pred_ids = read_panoptic_png(p_png, gt_ids.shape, scratch, "pred")
        evaluator.process_arrays(gt_ids, g["segments_info"], pred_ids, p["segments_info"], str(g["image_id"]))
    return evaluator


def _executor(workers: int, processes: bool | None, images: int) -> Executor:
    """Worker processes where they pay off and forking is safe, else threads.

    Processes scale with the cores as panopticapi's pool does; threads are limited by the part of
    each image that holds the GIL (``bincount`` and the per-segment bookkeeping, about 1 ms of 5),
    but start for free. By default processes are used on Linux with no other Python thread alive
    (forking a threaded process can deadlock) and at least 10 images per worker.
    """
    if processes is None:
        processes = sys.platform.startswith("linux") and threading.active_count() == 1 and images >= 10 * workers
    if processes:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(workers)


def pq_compute_files(gt_json: PathLike, pred_json: PathLike, gt_folder: PathLike | None = None,
                     pred_folder: PathLike | None = None, workers: int | None = None,
                     processes: bool | None = None) -> dict[str, Any]:
    """PQ of a COCO panoptic prediction (JSON + PNG folder) against ground truth in the same format.

    Folders default to the JSON's stem beside it. Equal to panopticapi's ``pq_compute`` (x100).
    Images are split over ``workers`` (default: one per available CPU), which are processes or
    threads as ``processes`` says (default: see :func:`_executor`).
    """
    gt, gt_dir = read_coco_panoptic(gt_json, gt_folder)
    pred, pred_dir = read_coco_panoptic(pred_json, pred_folder)
    if not gt.get("categories"):
        raise FormatError(f"{gt_json} has no categories")
    evaluator = PanopticEvaluator(gt["categories"])
    sizes = image_sizes(gt)
    pairs = list(iter_panoptic_pairs(gt, gt_dir, pred, pred_dir, str(pred_json)))
    n = max(1, min(workers or _available_cpus(), len(pairs)))
    if n == 1:
        parts = [_score_chunk(pairs, sizes, gt["categories"])]
    else:
        with _executor(n, processes, len(pairs)) as pool:  # strided chunks, so each worker gets a mix of image sizes
            parts = list(pool.map(_score_chunk, [pairs[i::n] for i in range(n)], repeat(sizes),
                                  repeat(gt["categories"])))
    for part in parts:
        evaluator.merge(part)
    return evaluator.evaluate()


def _available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
