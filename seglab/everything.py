"""Segment everything: a thin loop around a promptable predictor, as SAM's automatic mask generator.

A grid of single-point prompts goes through the predictor in batches (one decoder call per
``points_per_batch`` points); masks are filtered by predicted IoU and stability score,
de-duplicated with ``torchvision.ops.batched_nms`` (within each crop, then across crops),
and small disconnected regions and holes are removed. Any predictor with
``embed`` / ``predict_points_batch`` / ``upscale_logits`` (:class:`~seglab.models.sam.SamPredictor`)
takes the batched path; a model that proposes its own objects (:class:`Proposer`, the offline
default) has its proposals de-duplicated by the same NMS; any other promptable model answers a
coarse grid of single-point ``predict`` calls (skipping points that an earlier mask already
covers), de-duplicated the same way.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal, Protocol, runtime_checkable

import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms

from .prompts import Prompt
from .results import Masks

Progress = Callable[[int, int], None]
FULL_SIZE_CHUNK = 2_000_000  # full-size logit pixels upscaled at a time (8 MB in float32: stays in cache)


@dataclass(frozen=True)
class EverythingParams:
    """The automatic mask generator's settings, with the SAM paper's / reference code's defaults."""

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
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


@dataclass(frozen=True)
class EverythingResult:
    """The masks (best first by ``sort_by``) and what the run cost."""

    masks: Masks
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
                       progress: Progress | None = None) -> EverythingResult:
    """All masks in ``image`` (H x W x 3 uint8). ``progress(done, total)`` is called after each batch
    (a tqdm bar is shown instead when none is given and stderr is a terminal)."""
    params = params or default_params(predictor)
    start = time.perf_counter()
    if isinstance(predictor, Proposer):
        return _proposals(predictor, image, params, progress, start)
    plan = _plan(predictor, image, params)
    progress, close = _progress_or_tqdm(progress, len(plan))
    per_crop: dict[tuple[int, int, int, int], list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for done, (batch, (masks, scores)) in enumerate(zip(plan, _run(predictor, image, plan, params)), 1):
        per_crop.setdefault(batch.crop, []).append((masks, scores))
        progress(done, len(plan))
    close()
    h, w = image.shape[:2]
    masks, scores, crop_areas = [], [], []
    for crop, parts in per_crop.items():
        m, s = _nms(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), params.box_nms_thresh)
        m = _uncrop(m, crop, h, w)
        masks.append(m)
        scores.append(s)
        crop_areas.append(torch.full_like(s, float((crop[2] - crop[0]) * (crop[3] - crop[1]))))
    masks_t, scores_t = torch.cat(masks), torch.cat(scores)
    if len(per_crop) > 1:  # prefer masks from smaller crops, as the reference generator does
        keep = _nms_keep(masks_t, 1.0 / torch.cat(crop_areas), params.crop_nms_thresh)
        masks_t, scores_t = masks_t[keep], scores_t[keep]
    masks_np, scores_np = masks_t.numpy(), scores_t.numpy()
    if params.min_mask_region_area > 0:
        masks_np, scores_np = remove_small_regions(masks_np, scores_np, params.min_mask_region_area,
                                                   params.box_nms_thresh)
    seconds = time.perf_counter() - start
    points = sum(len(b.points) for b in plan)
    note = f"{len(masks_np)} masks from {points} point prompts ({len(plan)} batches) in {seconds:.1f} s"
    out = Masks(masks_np, scores_np, note=note).sorted(params.sort_by)
    return EverythingResult(out, seconds, points, len(plan))


def estimate_seconds(predictor: Any, image: np.ndarray, params: EverythingParams | None = None) -> float:
    """Seconds :func:`segment_everything` will take, from one measured batch (and crop embedding).

    Embeddings are cached, so the work done here is reused by the run that follows.
    """
    params = params or default_params(predictor)
    if isinstance(predictor, Proposer):
        return predictor.estimate_propose_seconds(image)
    plan = _plan(predictor, image, params)
    crops = list(dict.fromkeys(b.crop for b in plan))
    embed_s = 0.0
    if isinstance(predictor, PointBatchPredictor) and len(crops) > 1:
        x0, y0, x1, y1 = crops[1]
        t = time.perf_counter()
        predictor.embed(np.ascontiguousarray(image[y0:y1, x0:x1]))
        embed_s = time.perf_counter() - t
    t = time.perf_counter()
    next(_run(predictor, image, plan[:1], params))  # embeds the full image first when not yet cached
    batch_s = time.perf_counter() - t
    return batch_s * len(plan) + embed_s * max(len(crops) - 1, 0)


def _proposals(predictor: Proposer, image: np.ndarray, params: EverythingParams, progress: Progress | None,
               start: float) -> EverythingResult:
    """A proposer's masks, de-duplicated by the NMS of the point path."""
    progress, close = _progress_or_tqdm(progress, 1)
    proposed = predictor.propose(image, progress)
    close()
    writable = [np.require(a, requirements="W") for a in (proposed.masks, proposed.scores)]  # copies read-only ones
    masks, scores = _nms(*map(torch.from_numpy, writable), params.box_nms_thresh)
    seconds = time.perf_counter() - start
    note = f"{len(masks)} masks from {len(proposed)} proposals in {seconds:.1f} s"
    return EverythingResult(Masks(masks.numpy(), scores.numpy(), note=note).sorted(params.sort_by), seconds, 0, 1)


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
def _run(predictor: Any, image: np.ndarray, plan: list[_Batch], params: EverythingParams
         ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Per batch: (masks (N, h, w) bool in crop pixels, scores (N,)) that pass the filters."""
    h, w = image.shape[:2]
    covered = np.zeros((h, w), bool)  # the prompt path skips points that a mask found so far covers
    for batch in plan:
        x0, y0, x1, y1 = batch.crop
        crop = image if (x1 - x0, y1 - y0) == (w, h) else np.ascontiguousarray(image[y0:y1, x0:x1])
        if isinstance(predictor, PointBatchPredictor):
            yield _decoder_batch(predictor, crop, batch, params, (w, h))
        else:
            masks, scores = _prompt_batch(predictor, crop, batch, covered)
            if len(masks):
                covered |= masks.any(0).numpy()
            yield masks, scores


def _decoder_batch(predictor: PointBatchPredictor, crop: np.ndarray, batch: _Batch, params: EverythingParams,
                   image_wh: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    embedding = predictor.embed(crop)
    # as the reference generator: a predicted-IoU threshold <= 0 turns the filter off
    min_iou = params.pred_iou_thresh if params.pred_iou_thresh > 0 else None
    logits, iou = predictor.predict_points_batch(embedding, batch.points, min_iou)
    masks, scores = [], []
    chunk = max(1, FULL_SIZE_CHUNK // (crop.shape[0] * crop.shape[1]))
    for part, part_iou in zip(torch.split(logits, chunk), torch.split(iou, chunk)):
        full = predictor.upscale_logits(embedding, part)
        if params.stability_score_thresh > 0:
            stable = stability_score(full, params.mask_threshold, params.stability_score_offset)
            ok = stable >= params.stability_score_thresh
            full, part_iou = full[ok], part_iou[ok]
        masks.append((full > params.mask_threshold).cpu())
        scores.append(part_iou.cpu())
    masks_t = torch.cat(masks) if masks else torch.zeros((0, *crop.shape[:2]), dtype=torch.bool)
    scores_t = torch.cat(scores) if scores else torch.zeros(0)
    if batch.crop != (0, 0, *image_wh):
        inside = ~near_crop_edge(mask_boxes(masks_t), batch.crop, image_wh)
        masks_t, scores_t = masks_t[inside], scores_t[inside]
    return masks_t, scores_t.float()


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


def _nms_keep(masks: torch.Tensor, scores: torch.Tensor, iou_thresh: float) -> torch.Tensor:
    """Indices kept by box NMS, best score first; empty masks take part (zero boxes), as in the reference."""
    return batched_nms(mask_boxes(masks), scores, torch.zeros(len(masks), dtype=torch.int64), iou_thresh)


def _nms(masks: torch.Tensor, scores: torch.Tensor, iou_thresh: float) -> tuple[torch.Tensor, torch.Tensor]:
    keep = _nms_keep(masks, scores, iou_thresh)
    return masks[keep], scores[keep]


def _uncrop(masks: torch.Tensor, crop: tuple[int, int, int, int], height: int, width: int) -> torch.Tensor:
    x0, y0, x1, y1 = crop
    if (x0, y0, x1, y1) == (0, 0, width, height):
        return masks
    return torch.nn.functional.pad(masks, (x0, width - x1, y0, height - y1))


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


def remove_small_regions(masks: np.ndarray, scores: np.ndarray, min_area: int,
                         nms_thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """Remove islands and fill holes under ``min_area`` pixels, then de-duplicate again, preferring
    masks that did not change (as the reference generator's ``postprocess_small_regions``)."""
    if not len(masks):
        return masks, scores
    cleaned, unchanged = [], []
    for m in masks:
        m, holes_changed = _fill_small(m, min_area, holes=True)
        m, islands_changed = _fill_small(m, min_area, holes=False)
        cleaned.append(m)
        unchanged.append(not (holes_changed or islands_changed))
    out = torch.from_numpy(np.stack(cleaned))
    keep = _nms_keep(out, torch.tensor(unchanged, dtype=torch.float32), nms_thresh).numpy()
    return out.numpy()[keep], scores[keep]
