"""Monocular depth metrics (Eigen et al. 2014, as the NYU / KITTI tables report them).

Per image, over valid pixels (finite ground truth in ``(min_depth, max_depth)``) and with the
prediction clipped to that range: delta1/2/3 (share of ``max(gt/pred, pred/gt) < 1.25^k``),
AbsRel, SqRel, RMSE, RMSE_log, log10. A data set's numbers are the mean over images (as BTS,
AdaBins, ZoeDepth and Depth Anything evaluate), not over all pixels pooled.

Alignment for predictions without metric scale:

- ``"median"``: depth times ``median(gt) / median(pred)`` per image (Monodepth2's median scaling);
- ``"scale_shift"``: for relative *inverse* depth (MiDaS, Depth Anything relative): least-squares
  scale and shift of the prediction to ``1 / gt`` on valid pixels, disparity floored at ``1 / max_depth``
  (or the image's largest valid depth), then inverted to depth (MiDaS' evaluation).
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import SeglabError
from ..formats import FormatError
from ..results import DepthMap

Align = Literal["median", "scale_shift"] | None
DEPTH_KEYS = ("delta1", "delta2", "delta3", "AbsRel", "SqRel", "RMSE", "RMSE_log", "log10")


def valid_mask(gt: np.ndarray, min_depth: float = 1e-3, max_depth: float | None = None) -> np.ndarray:
    v = np.isfinite(gt) & (gt > min_depth)
    return v & (gt < max_depth) if max_depth else v


def align_depth(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, align: Align,
                max_depth: float | None = None) -> np.ndarray:
    """The prediction as metric depth after ``align`` (see module docstring); unchanged when ``None``."""
    pred = np.asarray(pred, np.float64)
    if align is None:
        return pred
    if align == "median":
        return pred * (np.median(gt[valid]) / np.median(pred[valid]))
    if align == "scale_shift":
        x, y = pred[valid], 1.0 / gt[valid]
        a = np.stack([x, np.ones_like(x)], 1)
        (scale, shift), *_ = np.linalg.lstsq(a, y, rcond=None)
        cap = max_depth or float(gt[valid].max())
        return 1.0 / np.maximum(scale * pred + shift, 1.0 / cap)
    raise SeglabError(f"align must be None, 'median' or 'scale_shift', not {align!r}")


def depth_metrics(pred: np.ndarray, gt: np.ndarray, min_depth: float = 1e-3, max_depth: float | None = None,
                  align: Align = None) -> dict[str, float]:
    """One image's delta1/2/3, AbsRel, SqRel, RMSE, RMSE_log, log10 (metres) over its valid pixels."""
    gt = np.asarray(gt, np.float64)
    if np.shape(pred) != gt.shape:
        raise FormatError(f"prediction is {np.shape(pred)} but the ground truth is {gt.shape}; resize it first")
    valid = valid_mask(gt, min_depth, max_depth)
    if not valid.any():
        raise FormatError("the ground-truth depth has no valid pixel")
    p = np.clip(align_depth(pred, gt, valid, align, max_depth)[valid], min_depth, max_depth or np.inf)
    g = gt[valid]
    ratio = np.maximum(g / p, p / g)
    err = g - p
    return {
        "delta1": float((ratio < 1.25).mean()), "delta2": float((ratio < 1.25 ** 2).mean()),
        "delta3": float((ratio < 1.25 ** 3).mean()),
        "AbsRel": float(np.mean(np.abs(err) / g)), "SqRel": float(np.mean(err ** 2 / g)),
        "RMSE": float(np.sqrt(np.mean(err ** 2))), "RMSE_log": float(np.sqrt(np.mean((np.log(g) - np.log(p)) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(g) - np.log10(p)))),
    }


class DepthEvaluator:
    """Streaming depth metrics averaged over images: ``reset()``, ``process(gt, pred)``, ``evaluate()``.

    ``gt`` and ``pred`` are metre arrays or :class:`DepthMap` s; a relative prediction needs ``align='scale_shift'``.
    Each image's own numbers are kept in ``per_image`` (by the ``image`` name given to ``process``).
    """

    def __init__(self, min_depth: float = 1e-3, max_depth: float | None = None, align: Align = None):
        self.min_depth, self.max_depth, self.align = min_depth, max_depth, align
        self.reset()

    def reset(self) -> None:
        self.per_image: dict[str, dict[str, float]] = {}

    def process(self, gt: DepthMap | np.ndarray, pred: DepthMap | np.ndarray, image: str | None = None) -> None:
        """Score one image (named ``image``, default its position)."""
        if isinstance(pred, DepthMap) and pred.kind == "relative" and self.align != "scale_shift":
            raise SeglabError("a relative (inverse) depth prediction needs align='scale_shift' to be scored")
        g = gt.depth if isinstance(gt, DepthMap) else gt
        p = pred.depth if isinstance(pred, DepthMap) else pred
        name = str(len(self.per_image)) if image is None else image
        self.per_image[name] = depth_metrics(p, g, self.min_depth, self.max_depth, self.align)

    def evaluate(self) -> dict[str, float]:
        """The mean over images of every metric, and ``images``."""
        rows = list(self.per_image.values())
        if not rows:
            return {**{k: float("nan") for k in DEPTH_KEYS}, "images": 0}
        return {**{k: float(np.mean([r[k] for r in rows])) for k in DEPTH_KEYS}, "images": len(rows)}
