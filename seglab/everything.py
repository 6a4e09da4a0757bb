"""Segment everything: a thin loop around a promptable predictor, as SAM's automatic mask generator.

A grid of single-point prompts goes through the predictor in batches (one decoder call per
``points_per_batch`` points); masks are filtered by predicted IoU and stability score,
de-duplicated with ``torchvision.ops.batched_nms`` (within each crop, then across crops),
and small disconnected regions and holes are removed. Any predictor with
``embed`` / ``predict_points_batch`` / ``upscale_logits`` (:class:`~seglab.models.sam.SamPredictor`)
takes the batched path; a model that proposes its own objects (:class:`Proposer`, the offline
default) has its proposals de-duplicated by the same NMS; any other promptable model answers a
coarse grid of single-point ``predict`` calls (skipping points that an earlier mask already
covers), de-duplicated the same way. The score threshold, box NMS and small-region removal apply on every path.

Masks are kept as COCO RLE (:class:`~seglab.results.RleMasks`) from the batch that found them on, so a
12-megapixel photo's hundred masks take megabytes, not gigabytes; a proposer proposes on the image brought to
at most :data:`PROPOSAL_SIDE` pixels a side and its masks stay at that resolution (upsampled on decoding).
A ``cancel`` event is checked between batches and between masks, so a run stops within a fraction of a second.
"""
from __future__ import annotations

import contextvars
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal, Protocol, runtime_checkable

import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms

from pycocotools import mask as mask_utils

from .prompts import Prompt
from .results import Masks, RleMasks

Progress = Callable[[int, int], None]
FULL_SIZE_CHUNK = 2_000_000  # full-size logit pixels upscaled at a time (8 MB in float32: stays in cache)
# a proposer proposes on the image at most this many pixels on its long side: the offline default's region trees
# work at 640 (REGION_SIDE), so more pixels give it no finer mask, only 400 larger arrays to draw and encode
PROPOSAL_SIDE = 640
CANCEL_POLL_S = 0.05  # how often a cancellable run looks at its cancel event
ESTIMATED_PROPOSALS = 400  # masks a proposer's estimate counts (the offline default proposes 400)


@dataclass(frozen=True)
class EverythingParams:
    """The automatic mask generator's settings, with the SAM paper's / reference code's defaults."""

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88  # a batched point decoder's (SAM family) masks: their predicted IoU
    score_thresh: float = 0.0  # every other model's masks (proposals, point answers): their own score
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0
    sort_by: Literal["area", "score"] = "area"
    fallback_points_per_side: int = 3  # grid for models without a batched point decoder (one call per point)


def default_params(predictor: Any) -> EverythingParams:
    """The official generator's defaults for ``predictor``: :class:`EverythingParams` with the settings its
    family's generator changes (its ``everything_defaults``; SAM 2's keeps masks from predicted IoU 0.8)."""
    return EverythingParams(**getattr(predictor, "everything_defaults", {}))


class Cancelled(Exception):
    """Segment everything stopped because its ``cancel`` event was set; says how far it had come."""

    def __init__(self, done: int, total: int, unit: str = "batches") -> None:
        super().__init__(f"cancelled after {done} of {total} {unit}" if total else
                         "cancelled before its first batch was done")
        self.done, self.total = done, total


@dataclass(frozen=True)
class EverythingResult:
    """The masks (best first by ``sort_by``) and what the run cost."""

    masks: RleMasks
    seconds: float
    points: int
    batches: int

    def to_coco(self, image_id: int = 0) -> list[dict[str, Any]]:
        """COCO results entries with RLE masks, for export."""
        return self.masks.to_coco(image_id)


@runtime_checkable
class PointBatchPredictor(Protocol):
    """What the batched path needs: a (cached) embedding, many single-point prompts per decoder call,
    and low-resolution logits mapped back to the embedded image's pixels."""

    def embed(self, image: np.ndarray) -> Any: ...

    def predict_points_batch(self, embedding: Any, points: np.ndarray,
                             min_iou: float | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...

    def upscale_logits(self, embedding: Any, logits: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Proposer(Protocol):
    """A model with its own object proposals (scored masks) and an estimate of their cost."""

    def propose(self, image: np.ndarray, progress: Progress | None = None) -> Masks: ...

    def estimate_propose_seconds(self, image: np.ndarray) -> float: ...


@dataclass(frozen=True)
class _Batch:
    crop: tuple[int, int, int, int]  # xyxy in the image
    points: np.ndarray  # (P, 2) in crop pixels


def segment_everything(predictor: Any, image: np.ndarray, params: EverythingParams | None = None,
                       progress: Progress | None = None, cancel: threading.Event | None = None) -> EverythingResult:
    """All masks in ``image`` (H x W x 3 uint8). ``progress(done, total)`` is called after each batch (a
    proposer's: each region tree); a tqdm bar is shown instead when none is given and stderr is a terminal.

    With ``cancel``, the run goes on a worker thread and :class:`Cancelled` is raised within
    :data:`CANCEL_POLL_S` of the event being set; the worker stops at its next check (between batches, chunks
    of masks and masks; inside a proposer, between its region trees), its result dropped."""
    stop = _Stop(cancel)
    return _cancellable(lambda: _segment_everything(predictor, image, params, progress, stop), stop)


def _cancellable(work: Callable[[], Any], stop: _Stop) -> Any:
    """``work()``, or with a cancel event, ``work()`` on a worker thread (in the caller's context, so that
    Gradio's progress goes with it) and :class:`Cancelled` within :data:`CANCEL_POLL_S` of the event."""
    if stop.event is None:
        return work()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["out"] = work()
        except BaseException as e:  # noqa: BLE001  (handed to the caller below)
            box["error"] = e

    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="segment-everything",
                              daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(CANCEL_POLL_S)
        if stop.event.is_set() and worker.is_alive():
            raise Cancelled(stop.done, stop.total, stop.unit)
    if "error" in box:
        raise box["error"]
    return box["out"]


def _segment_everything(predictor: Any, image: np.ndarray, params: EverythingParams | None,
                        progress: Progress | None, stop: _Stop) -> EverythingResult:
    params = params or default_params(predictor)
    start = time.perf_counter()
    if isinstance(predictor, Proposer):
        return _proposals(predictor, image, params, progress, stop, start)
    plan = _plan(predictor, image, params)
    progress, close = _progress_or_tqdm(progress, len(plan))
    per_crop: dict[tuple[int, int, int, int], list[_Found]] = {}
    try:
        for done, (batch, found) in enumerate(zip(plan, _run(predictor, image, plan, params, stop)), 1):
            per_crop.setdefault(batch.crop, []).append(found)
            stop.done = done
            stop.check(len(plan))
            progress(done, len(plan))
    finally:
        close()
    parts, crop_areas = [], []
    for crop, found in per_crop.items():
        kept = _Found.cat(found).nms(params.box_nms_thresh)
        parts.append(kept)
        crop_areas.append(torch.full_like(kept.scores, float((crop[2] - crop[0]) * (crop[3] - crop[1]))))
    found = _Found.cat(parts)
    if len(per_crop) > 1:  # prefer masks from smaller crops, as the reference generator does
        found = found.take(_box_nms_keep(found.boxes, 1.0 / torch.cat(crop_areas), params.crop_nms_thresh))
    if not isinstance(predictor, PointBatchPredictor) and params.score_thresh > 0:  # the decoder filters its own
        found = found.take(torch.nonzero(found.scores >= params.score_thresh).flatten())
    h, w = image.shape[:2]
    if params.min_mask_region_area > 0:
        found = _remove_small(found, (h, w), params.min_mask_region_area, params.box_nms_thresh, stop, len(plan))
    seconds = time.perf_counter() - start
    points = sum(len(b.points) for b in plan)
    note = f"{len(found)} masks from {points} point prompts ({len(plan)} batches) in {seconds:.1f} s"
    out = RleMasks(tuple(found.rles), found.scores.numpy(), (h, w), note).sorted(params.sort_by)
    return EverythingResult(out, seconds, points, len(plan))


def estimate_seconds(predictor: Any, image: np.ndarray, params: EverythingParams | None = None,
                     cancel: threading.Event | None = None) -> float:
    """Seconds :func:`segment_everything` will take, measured on ``image``: one batch (and crop embedding) run
    and timed; for a proposer, see :func:`_proposer_seconds`. ``cancel`` as for :func:`segment_everything`.

    Embeddings and region trees are cached, so the work done here is reused by the run that follows.
    """
    return _cancellable(lambda: _estimate_seconds(predictor, image, params), _Stop(cancel))


def _estimate_seconds(predictor: Any, image: np.ndarray, params: EverythingParams | None) -> float:
    params = params or default_params(predictor)
    if isinstance(predictor, Proposer):
        return _proposer_seconds(predictor, proposal_image(image))
    plan = _plan(predictor, image, params)
    crops = list(dict.fromkeys(b.crop for b in plan))
    embed_s = 0.0
    if isinstance(predictor, PointBatchPredictor) and len(crops) > 1:
        x0, y0, x1, y1 = crops[1]
        t = time.perf_counter()
        predictor.embed(np.ascontiguousarray(image[y0:y1, x0:x1]))
        embed_s = time.perf_counter() - t
    t = time.perf_counter()
    next(_run(predictor, image, plan[:1], params, _Stop(None)))  # embeds the full image first when not yet cached
    batch_s = time.perf_counter() - t
    return batch_s * len(plan) + embed_s * max(len(crops) - 1, 0)


def proposal_image(image: np.ndarray) -> np.ndarray:
    """The image a proposer proposes on: at most :data:`PROPOSAL_SIDE` pixels on its long side (INTER_AREA)."""
    h, w = image.shape[:2]
    scale = PROPOSAL_SIDE / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _proposals(predictor: Proposer, image: np.ndarray, params: EverythingParams, progress: Progress | None,
               stop: _Stop, start: float) -> EverythingResult:
    """A proposer's masks on :func:`proposal_image`, filtered by score, de-duplicated by the NMS of the point
    path and cleaned of small regions (at the proposal grid, the area scaled), kept as RLE of that grid."""
    small = proposal_image(image)
    h, w = image.shape[:2]
    trees = [0]
    report, close = _progress_or_tqdm(progress, 1)

    def step(done: int, total: int) -> None:
        trees[0] = total
        stop.done = done
        stop.check(total, "region trees")
        report(done, total)

    try:
        proposed = predictor.propose(small, step)
    finally:
        close()
    n_proposed = len(proposed)
    if params.score_thresh > 0:
        proposed = proposed.select(np.flatnonzero(proposed.scores >= params.score_thresh))
    scores = torch.from_numpy(proposed.scores.copy())
    boxes = torch.from_numpy(proposed.boxes.copy()) - torch.tensor([0.0, 0.0, 1.0, 1.0])  # inclusive, as SAM's
    boxes = boxes * torch.from_numpy(proposed.areas > 0)[:, None]
    keep = _box_nms_keep(boxes, scores, params.box_nms_thresh).numpy()
    kept = proposed.select(keep)
    masks = [np.asarray(m) for m in kept.masks]
    scale = small.shape[0] * small.shape[1] / (h * w)
    rles, total = [], len(masks)
    for i, m in enumerate(masks):
        stop.done = i
        stop.check(total, "masks")
        rles.append(mask_utils.encode(np.asfortranarray(m, dtype=np.uint8)))
    found = _Found(rles, _rle_boxes(rles), torch.from_numpy(kept.scores.copy()))
    if params.min_mask_region_area > 0:
        area = max(1, round(params.min_mask_region_area * scale))
        found = _remove_small(found, small.shape[:2], area, params.box_nms_thresh, stop, total)
    seconds = time.perf_counter() - start
    note = f"{len(found)} masks from {n_proposed} proposals in {seconds:.1f} s"
    out = RleMasks(tuple(found.rles), found.scores.numpy(), (h, w), note).sorted(params.sort_by)
    return EverythingResult(out, seconds, 0, max(trees[0], 1))


def _proposer_seconds(predictor: Proposer, small: np.ndarray) -> float:
    """What is left of a proposer's run once its estimate has run: the estimate is asked twice (each call
    builds, caches and times one piece of the work it lacks, a region tree, and multiplies); the first call
    also does the work every piece shares (the offline default's saliency), so the second's figure is the
    steady one, less the piece it built. Then the masks to draw and encode (:func:`_bring_out_seconds`)."""
    if predictor.estimate_propose_seconds(small) == 0:  # nothing left to build
        return _bring_out_seconds(small)
    t = time.perf_counter()
    rest = predictor.estimate_propose_seconds(small)
    return max(rest - (time.perf_counter() - t), 0.0) + _bring_out_seconds(small)


def _bring_out_seconds(small: np.ndarray) -> float:
    """Time to bring out a proposer's masks: one proposal treated as the offline default treats each (its
    superpixels picked from a label map of the grid, reduced to its box and area, RLE-encoded) timed, times
    :data:`ESTIMATED_PROPOSALS`; and a third of them (those NMS keeps, about) drawn once for a view of twice
    the grid's side (decoded, resized, encoded, painted). The grid caps the work: it does not grow with the photo."""
    h, w = small.shape[:2]
    labels = (np.arange(h * w, dtype=np.int32) // 97).reshape(h, w)
    t = time.perf_counter()
    grid = np.isin(labels, np.arange(0, int(labels.max()) + 1, 7)).view(np.uint8)
    grid.sum(), grid.any(0), grid.any(1)  # noqa: B018  (its area and box)
    rle = mask_utils.encode(np.asfortranarray(grid))
    propose_s = time.perf_counter() - t
    t = time.perf_counter()
    view = cv2.resize(mask_utils.decode(rle), (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    mask_utils.decode(mask_utils.encode(np.asfortranarray(view)))
    view_s = time.perf_counter() - t
    return (propose_s + view_s / 3) * ESTIMATED_PROPOSALS


# --- the plan: crops and batches of grid points -------------------------------------------------
def point_grid(n: int) -> np.ndarray:
    """(n * n, 2) xy points in [0, 1], centred in n x n cells."""
    side = np.linspace(1 / (2 * n), 1 - 1 / (2 * n), n)
    return np.stack(np.meshgrid(side, side), -1).reshape(-1, 2)


def crop_boxes(height: int, width: int, n_layers: int,
               overlap_ratio: float) -> list[tuple[int, tuple[int, int, int, int]]]:
    """(layer, xyxy) crops: the whole image, then 2^k x 2^k overlapping crops for layers k = 1..n."""
    out = [(0, (0, 0, width, height))]
    short = min(height, width)
    for layer in range(1, n_layers + 1):
        per_side = 2 ** layer
        overlap = int(overlap_ratio * short * (2 / per_side))
        cw = math.ceil((overlap * (per_side - 1) + width) / per_side)
        ch = math.ceil((overlap * (per_side - 1) + height) / per_side)
        xs, ys = [(cw - overlap) * i for i in range(per_side)], [(ch - overlap) * i for i in range(per_side)]
        for x0, y0 in product(xs, ys):
            out.append((layer, (x0, y0, min(x0 + cw, width), min(y0 + ch, height))))
    return out


def _plan(predictor: Any, image: np.ndarray, params: EverythingParams) -> list[_Batch]:
    h, w = image.shape[:2]
    if not isinstance(predictor, PointBatchPredictor):
        grid = point_grid(params.fallback_points_per_side) * [w, h]
        return [_Batch((0, 0, w, h), p[None]) for p in grid]
    plan = []
    for layer, crop in crop_boxes(h, w, params.crop_n_layers, params.crop_overlap_ratio):
        n = max(1, int(params.points_per_side / params.crop_n_points_downscale_factor ** layer))
        grid = point_grid(n) * [crop[2] - crop[0], crop[3] - crop[1]]
        step = params.points_per_batch
        plan += [_Batch(crop, grid[i:i + step]) for i in range(0, len(grid), step)]
    return plan


# --- running batches ------------------------------------------------------------------------------
class _Stop:
    """The cancel event, checked between batches and masks; ``done`` of ``total`` ``unit`` is the work
    finished at the last check."""

    def __init__(self, event: threading.Event | None) -> None:
        self.event, self.done, self.total, self.unit = event, 0, 0, "batches"

    def check(self, total: int, unit: str = "batches") -> None:
        self.total, self.unit = total, unit
        if self.event is not None and self.event.is_set():
            raise Cancelled(self.done, total, unit)


@dataclass
class _Found:
    """Masks found so far: RLEs in image pixels, (N, 4) inclusive xyxy boxes (as the NMS takes them), scores."""

    rles: list[dict[str, Any]]
    boxes: torch.Tensor
    scores: torch.Tensor

    def __len__(self) -> int:
        return len(self.rles)

    @staticmethod
    def cat(parts: list[_Found]) -> _Found:
        return _Found([r for p in parts for r in p.rles], torch.cat([p.boxes for p in parts]).reshape(-1, 4),
                      torch.cat([p.scores for p in parts]).float())

    def take(self, keep: torch.Tensor) -> _Found:
        idx = keep.tolist()
        return _Found([self.rles[i] for i in idx], self.boxes[keep], self.scores[keep])

    def nms(self, iou_thresh: float) -> _Found:
        return self.take(_box_nms_keep(self.boxes, self.scores, iou_thresh))


def _rle_boxes(rles: list[dict[str, Any]]) -> torch.Tensor:
    """(N, 4) float xyxy boxes of RLEs, right/bottom inclusive as :func:`mask_boxes`; zeros for empty masks."""
    if not rles:
        return torch.zeros((0, 4))
    x, y, w, h = torch.from_numpy(mask_utils.toBbox(rles).reshape(-1, 4)).float().T
    boxes = torch.stack([x, y, x + w - 1, y + h - 1], 1)
    return boxes * (w > 0)[:, None]


def _encode(masks: torch.Tensor, crop: tuple[int, int, int, int], size: tuple[int, int]) -> list[dict[str, Any]]:
    """RLEs in image pixels of (N, h, w) bool masks in ``crop`` pixels (pasted into one reused H x W buffer)."""
    x0, y0, x1, y1 = crop
    if (x1 - x0, y1 - y0) == (size[1], size[0]):
        return [mask_utils.encode(np.asfortranarray(m.numpy(), dtype=np.uint8)) for m in masks]
    full = np.zeros(size, np.uint8, order="F")
    out = []
    for m in masks:
        full[y0:y1, x0:x1] = m.numpy()
        out.append(mask_utils.encode(full))
    return out


def _run(predictor: Any, image: np.ndarray, plan: list[_Batch], params: EverythingParams, stop: _Stop
         ) -> Iterator[_Found]:
    """Per batch: the masks (in image pixels) that pass the decoder's filters."""
    h, w = image.shape[:2]
    covered = np.zeros((h, w), bool)  # the prompt path skips points that a mask found so far covers
    for batch in plan:
        x0, y0, x1, y1 = batch.crop
        crop = image if (x1 - x0, y1 - y0) == (w, h) else np.ascontiguousarray(image[y0:y1, x0:x1])
        if isinstance(predictor, PointBatchPredictor):
            yield _decoder_batch(predictor, crop, batch, params, (w, h), stop, len(plan))
        else:
            masks, scores = _prompt_batch(predictor, crop, batch, covered)
            if len(masks):
                covered |= masks.any(0).numpy()
            yield _Found(_encode(masks, batch.crop, (h, w)), mask_boxes(masks), scores)


def _decoder_batch(predictor: PointBatchPredictor, crop: np.ndarray, batch: _Batch, params: EverythingParams,
                   image_wh: tuple[int, int], stop: _Stop, total: int) -> _Found:
    embedding = predictor.embed(crop)
    # as the reference generator: a predicted-IoU threshold <= 0 turns the filter off
    min_iou = params.pred_iou_thresh if params.pred_iou_thresh > 0 else None
    logits, iou = predictor.predict_points_batch(embedding, batch.points, min_iou)
    parts = []
    chunk = max(1, FULL_SIZE_CHUNK // (crop.shape[0] * crop.shape[1]))
    offset = torch.tensor(batch.crop[:2] * 2, dtype=torch.float32)
    for part, part_iou in zip(torch.split(logits, chunk), torch.split(iou, chunk)):
        stop.check(total)
        full = predictor.upscale_logits(embedding, part)
        if params.stability_score_thresh > 0:
            stable = stability_score(full, params.mask_threshold, params.stability_score_offset)
            ok = stable >= params.stability_score_thresh
            full, part_iou = full[ok], part_iou[ok]
        masks = (full > params.mask_threshold).cpu()
        boxes = mask_boxes(masks)
        if batch.crop != (0, 0, *image_wh):
            inside = ~near_crop_edge(boxes, batch.crop, image_wh)
            masks, boxes, part_iou = masks[inside], boxes[inside], part_iou[inside.to(part_iou.device)]
        nonempty = masks.flatten(1).any(1, keepdim=True) if len(masks) else torch.zeros((0, 1), dtype=torch.bool)
        parts.append(_Found(_encode(masks, batch.crop, image_wh[::-1]), (boxes + offset) * nonempty,
                            part_iou.cpu().float()))
    return _Found.cat(parts) if parts else _Found([], torch.zeros((0, 4)), torch.zeros(0))


def _prompt_batch(predictor: Any, crop: np.ndarray, batch: _Batch, covered: np.ndarray
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    masks, scores = [], []
    h, w = covered.shape
    for x, y in batch.points:
        if covered[min(int(y), h - 1), min(int(x), w - 1)]:
            continue
        out = predictor.predict(crop, Prompt.build(points=[(x, y)])).sorted()
        if len(out):
            masks.append(torch.from_numpy(out.masks[0].copy()))
            scores.append(float(out.scores[0]))
    if not masks:
        return torch.zeros((0, *crop.shape[:2]), dtype=torch.bool), torch.zeros(0)
    return torch.stack(masks), torch.tensor(scores, dtype=torch.float32)


def _progress_or_tqdm(progress: Progress | None, total: int) -> tuple[Progress, Callable[[], None]]:
    if progress is not None:
        return progress, lambda: None
    if not sys.stderr.isatty():
        return (lambda done, total: None), lambda: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="segment everything", unit="batch")
    return (lambda done, total: bar.update(done - bar.n)), bar.close


# --- small pure helpers (masks, boxes, NMS) -------------------------------------------------------
def stability_score(logits: torch.Tensor, threshold: float, offset: float) -> torch.Tensor:
    """IoU between the masks thresholded at ``threshold + offset`` and ``threshold - offset``; 0 where both
    are empty (the reference's 0 / 0, which fails every positive threshold)."""
    inter = torch.count_nonzero(logits > threshold + offset, dim=(-1, -2))
    union = torch.count_nonzero(logits > threshold - offset, dim=(-1, -2))
    return inter / union.clamp(min=1)


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(N, 4) float xyxy boxes of (N, H, W) bool masks, right/bottom inclusive (the last pixel's index, as
    the reference generator's ``batched_mask_to_box``); zeros for empty masks."""
    n, h, w = masks.shape
    rows, cols = masks.any(2), masks.any(1)
    y0 = rows.int().argmax(1)
    y1 = h - 1 - rows.flip(1).int().argmax(1)
    x0 = cols.int().argmax(1)
    x1 = w - 1 - cols.flip(1).int().argmax(1)
    boxes = torch.stack([x0, y0, x1, y1], 1).float()
    return boxes * rows.any(1, keepdim=True)


def near_crop_edge(boxes: torch.Tensor, crop: tuple[int, int, int, int], image_wh: tuple[int, int],
                   atol: float = 20.0) -> torch.Tensor:
    """Boxes (in crop pixels) touching a crop edge that is not an image edge: cut-off objects."""
    x0, y0 = crop[:2]
    crop_t = torch.tensor(crop, dtype=torch.float32)
    image_t = torch.tensor([0, 0, *image_wh], dtype=torch.float32)
    boxes = boxes + torch.tensor([x0, y0, x0, y0], dtype=torch.float32)
    near_crop = torch.isclose(boxes, crop_t[None], atol=atol, rtol=0)
    near_image = torch.isclose(boxes, image_t[None], atol=atol, rtol=0)
    return (near_crop & ~near_image).any(1)


def _box_nms_keep(boxes: torch.Tensor, scores: torch.Tensor, iou_thresh: float) -> torch.Tensor:
    """Indices kept by box NMS, best score first; empty masks (zero boxes) take part, as in the reference."""
    return batched_nms(boxes.float(), scores.float(), torch.zeros(len(boxes), dtype=torch.int64), iou_thresh)


def _nms_keep(masks: torch.Tensor, scores: torch.Tensor, iou_thresh: float) -> torch.Tensor:
    """:func:`_box_nms_keep` on the masks' boxes."""
    return _box_nms_keep(mask_boxes(masks), scores, iou_thresh)


def _fill_small(mask: np.ndarray, min_area: int, holes: bool) -> tuple[np.ndarray, bool]:
    """Fill holes (or drop islands) smaller than ``min_area`` pixels; keeps the largest island if all are small."""
    work = (mask ^ holes).astype(np.uint8)
    n, regions, stats, _ = cv2.connectedComponentsWithStats(work, connectivity=8)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    small = np.flatnonzero(sizes < min_area) + 1
    if not len(small):
        return mask, False
    if holes:
        return mask | np.isin(regions, small), True
    big = np.flatnonzero(sizes >= min_area) + 1
    return np.isin(regions, big if len(big) else [int(np.argmax(sizes)) + 1]), True


def _cleaned(mask: np.ndarray, min_area: int) -> tuple[np.ndarray, bool]:
    """The mask with holes filled and islands removed under ``min_area`` pixels, and whether it changed."""
    mask, holes_changed = _fill_small(mask, min_area, holes=True)
    mask, islands_changed = _fill_small(mask, min_area, holes=False)
    return mask, holes_changed or islands_changed


def remove_small_regions(masks: np.ndarray, scores: np.ndarray, min_area: int,
                         nms_thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """Remove islands and fill holes under ``min_area`` pixels, then de-duplicate again, preferring
    masks that did not change (as the reference generator's ``postprocess_small_regions``)."""
    if not len(masks):
        return masks, scores
    cleaned, unchanged = [], []
    for m in masks:
        m, changed = _cleaned(m, min_area)
        cleaned.append(m)
        unchanged.append(not changed)
    out = torch.from_numpy(np.stack(cleaned))
    keep = _nms_keep(out, torch.tensor(unchanged, dtype=torch.float32), nms_thresh).numpy()
    return out.numpy()[keep], scores[keep]


def _remove_small(found: _Found, size: tuple[int, int], min_area: int, nms_thresh: float, stop: _Stop,
                  total: int) -> _Found:
    """:func:`remove_small_regions` on RLEs of ``size`` (H, W), one mask decoded at a time."""
    rles, unchanged = [], []
    for rle in found.rles:
        stop.check(total)
        mask, changed = _cleaned(mask_utils.decode(rle).astype(bool), min_area)
        rles.append(mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8)) if changed else rle)
        unchanged.append(not changed)
    if not rles:
        return found
    cleaned = _Found(rles, _rle_boxes(rles), found.scores)
    return cleaned.take(_box_nms_keep(cleaned.boxes, torch.tensor(unchanged, dtype=torch.float32), nms_thresh))
