"""Interactive segmentation scores as in the SAM paper (after RITM): IoU per click, mIoU@k and NoC@IoU.

The clicks themselves are simulated where models run (:mod:`seglab.interactive`); this module only
turns the IoUs they reached into named numbers. mIoU is in percent, as :mod:`seglab.metrics` reports
it; NoC (number of clicks to reach an IoU) is capped at the number of clicks simulated.
"""
from __future__ import annotations

import numpy as np

CLICKS_REPORTED = (1, 2, 3, 5)
NOC_THRESHOLDS = (0.85, 0.90)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def number_of_clicks(ious: np.ndarray, threshold: float) -> np.ndarray:
    """Per instance, the clicks needed to reach ``threshold`` IoU (NoC), capped at the number of clicks."""
    ious = np.atleast_2d(ious)
    reached = ious >= threshold
    return np.where(reached.any(1), reached.argmax(1) + 1, ious.shape[1])


def miou_curve(ious: np.ndarray) -> np.ndarray:
    """Mean IoU (percent) after 1, 2, ... clicks over all instances: the line the report and dashboard draw."""
    return np.atleast_2d(ious).mean(0) * 100


def summarize(ious: np.ndarray, boxes: np.ndarray | None = None) -> dict[str, float]:
    """Named numbers over instances: ``mIoU@1/2/3/5`` and ``box mIoU`` in percent (as seglab.metrics
    reports mIoU), mean ``NoC@85`` / ``NoC@90`` in clicks, and ``instances``."""
    ious = np.atleast_2d(ious)
    if not len(ious):
        raise ValueError("no instance was evaluated")
    out: dict[str, float] = {"instances": float(len(ious))}
    curve = miou_curve(ious)
    for k in CLICKS_REPORTED:
        if k <= len(curve):
            out[f"mIoU@{k}"] = float(curve[k - 1])
    for t in NOC_THRESHOLDS:
        out[f"NoC@{round(t * 100)}"] = float(number_of_clicks(ious, t).mean())
    if boxes is not None:
        out["box mIoU"] = float(np.mean(boxes)) * 100
    return out


class InteractiveEvaluator:
    """Streaming click scores: ``reset()``, ``process(click_ious, box_ious)`` per image, ``evaluate()``.

    ``click_ious``: (N, clicks) IoU after each simulated click for the image's N instances;
    ``box_ious``: (N,) IoU with each instance's box prompt, or None when boxes were not prompted.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.click_ious: list[np.ndarray] = []
        self.box_ious: list[np.ndarray] = []

    def process(self, click_ious: np.ndarray, box_ious: np.ndarray | None = None) -> None:
        clicks = np.asarray(click_ious, np.float64)
        if not clicks.size:  # an image whose instances all rasterised to nothing
            return
        self.click_ious.append(np.atleast_2d(clicks))
        if box_ious is not None:
            self.box_ious.append(np.asarray(box_ious, np.float64).reshape(-1))

    def evaluate(self) -> dict[str, float]:
        """:func:`summarize` over every instance processed (``ValueError`` when there is none)."""
        if not self.click_ious:
            raise ValueError("no instance was evaluated")
        boxes = np.concatenate(self.box_ious) if self.box_ious else None
        return summarize(np.concatenate(self.click_ious), boxes)
