"""The click simulator of interactive evaluation as in the SAM paper (after RITM): IoU after each click.

For each ground-truth mask the first click goes to the point farthest from the mask
boundary; every next click goes to the point farthest from the boundary of the error
region (positive where the prediction misses the object, negative where it spills over),
and the previous mask logits are fed back when the model returns them. Works with any
promptable adapter that takes point prompts, the offline default included. The IoUs become
named numbers (mIoU@k, NoC) in :mod:`seglab.metrics.interactive`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt

from .errors import InvalidPromptError
from .loading import load_model, predict
from .metrics.interactive import mask_iou
from .models.base import Adapter
from .prompts import Prompt
from .results import Masks, masks_to_boxes


@dataclass(frozen=True)
class Click:
    """A simulated click in pixel coordinates (x = column, y = row)."""

    x: int
    y: int
    is_positive: bool


def _interior(region: np.ndarray) -> tuple[float, int, int]:
    """(distance to the region's boundary, row, col) of its most interior pixel; the image edge counts as boundary."""
    if not region.any():
        return 0.0, -1, -1
    dist = distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(dist[r, c]), int(r), int(c)


def next_click(gt: np.ndarray, pred: np.ndarray | None = None) -> Click | None:
    """The next simulated click for ground truth ``gt`` given the current prediction (None before the first).

    The click goes to the most interior point of the missed (false-negative, positive click)
    or spilled (false-positive, negative click) region, whichever reaches deeper; ties go to
    the missed region. Without a prediction this is the point farthest from the mask's
    boundary. Returns None when the prediction equals the ground truth.
    """
    gt = np.asarray(gt, bool)
    pred = np.zeros_like(gt) if pred is None else np.asarray(pred, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    fn_depth, fn_r, fn_c = _interior(gt & ~pred)
    fp_depth, fp_r, fp_c = _interior(pred & ~gt)
    if fn_depth == 0 and fp_depth == 0:
        return None
    if fn_depth >= fp_depth:
        return Click(fn_c, fn_r, True)
    return Click(fp_c, fp_r, False)


def _best(result: Masks, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """The highest-scoring mask of a result and its logits (if the model gave them)."""
    if not len(result):
        return np.zeros(shape, bool), None
    i = int(np.argmax(result.scores))
    return result.masks[i], None if result.logits is None else result.logits[i]


def _adapter(model: str | Adapter) -> Adapter:
    adapter = load_model(model) if isinstance(model, str) else model
    if "points" not in adapter.spec.prompts:
        raise InvalidPromptError(f"{adapter.spec.id} does not take point prompts, so it cannot be clicked on")
    return adapter


def click_ious(model: str | Adapter, image: np.ndarray, gt: np.ndarray, max_clicks: int = 20,
               stop_iou: float | None = None, **options: Any) -> np.ndarray:
    """IoU after each of ``max_clicks`` simulated clicks on one ground-truth mask.

    The loop stops early when the prediction equals the ground truth or reaches
    ``stop_iou``; the remaining entries repeat the last IoU. The previous click's mask
    logits are passed back as ``mask_input`` when the model returns them.
    """
    adapter = _adapter(model)
    gt = np.asarray(gt, bool)
    if not gt.any():
        raise ValueError("the ground-truth mask is empty")
    ious = np.zeros(max_clicks, np.float64)
    pred, logits = None, None
    points: list[tuple[int, int]] = []
    labels: list[int] = []
    for k in range(max_clicks):
        click = next_click(gt, pred)
        if click is None:  # nothing left to correct
            ious[k:] = ious[k - 1]
            break
        points.append((click.x, click.y))
        labels.append(int(click.is_positive))
        extra = dict(options, mask_input=logits) if logits is not None else options
        result = predict(adapter, image, Prompt.build(points=points, labels=labels), **extra)
        pred, logits = _best(result, gt.shape)
        ious[k] = mask_iou(pred, gt)
        if stop_iou is not None and ious[k] >= stop_iou:
            ious[k + 1:] = ious[k]
            break
    return ious


def evaluate_interactive(model: str | Adapter, image: np.ndarray, gt_masks: np.ndarray, max_clicks: int = 20,
                         stop_iou: float | None = None, **options: Any) -> np.ndarray:
    """(N, max_clicks) IoU per click for each of the N ground-truth masks (N x H x W bool) of one image."""
    adapter = _adapter(model)
    return np.stack([click_ious(adapter, image, gt, max_clicks, stop_iou, **options) for gt in gt_masks]) \
        if len(gt_masks) else np.zeros((0, max_clicks))


def box_ious(model: str | Adapter, image: np.ndarray, gt_masks: np.ndarray, **options: Any) -> np.ndarray:
    """(N,) IoU of the model's mask when prompted with each ground-truth mask's tight box."""
    adapter = load_model(model) if isinstance(model, str) else model
    out = []
    for gt, box in zip(gt_masks, masks_to_boxes(np.asarray(gt_masks, bool))):
        result = predict(adapter, image, Prompt.build(box=box), **options)
        out.append(mask_iou(_best(result, gt.shape)[0], gt))
    return np.array(out, np.float64)
