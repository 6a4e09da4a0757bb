"""Offline baselines for box prompts: the floor every promptable model must beat.

Each is a few lines on pieces seglab already has, runs with no download, and takes box prompts:

- ``box-as-mask``: the box filled (score 1);
- ``grabcut-box``: OpenCV GrabCut started from the box alone (``GC_INIT_WITH_RECT``) on the box's
  context crop, as in its paper's usage (score: the share of the box it keeps);
- ``u2netp-saliency-box``: U2-Net-p saliency of the box's context crop (as the offline default's) over 0.5
  inside the box (score: its mean saliency).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..prompts import Prompt
from ..registry import ModelSpec, get_spec
from ..results import Masks
from .box_vote import context_crop
from .embedded import EMBEDDED_ID, EmbeddedSegmenter

GRABCUT_ITERATIONS = 5


class _BoxBaseline:
    """One mask per box prompt from :meth:`box_mask`."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> _BoxBaseline:
        return cls(spec)

    def predict(self, image: np.ndarray, prompt: Prompt, **_: object) -> Masks:
        results = [self.box_mask(image, box) for box in prompt.boxes]
        return Masks(np.stack([m for m, _ in results]), np.array([s for _, s in results], np.float32))

    def box_mask(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        raise NotImplementedError


def _filled(shape: tuple[int, ...], box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = np.asarray(box, float)
    mask = np.zeros(shape[:2], bool)
    mask[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = True
    return mask


class BoxAsMask(_BoxBaseline):
    """The box filled."""

    def box_mask(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        return _filled(image.shape, box), 1.0


class GrabCutBox(_BoxBaseline):
    """GrabCut from the box rectangle on its context crop; reproducible (OpenCV's RNG seeded)."""

    def box_mask(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = context_crop(box, w, h)
        bx0, by0, bx1, by1 = np.asarray(box, float) - (x0, y0, x0, y0)
        rect = (int(bx0), int(by0), max(int(np.ceil(bx1 - bx0)), 1), max(int(np.ceil(by1 - by0)), 1))
        labels = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.setRNGSeed(0)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        try:
            cv2.grabCut(np.ascontiguousarray(image[y0:y1, x0:x1]), labels, rect, bgd, fgd, GRABCUT_ITERATIONS,
                        cv2.GC_INIT_WITH_RECT)
        except cv2.error:  # a box too small for a colour model: the box itself
            return _filled(image.shape, box), 0.0
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
        filled = _filled(image.shape, box)
        return mask, float(mask.sum() / max(filled.sum(), 1))


class SaliencyInBox(_BoxBaseline):
    """U2-Net-p saliency over 0.5 inside the box, from its own copy of the offline default's network."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.saliency_model = EmbeddedSegmenter.load(get_spec(EMBEDDED_ID))

    def box_mask(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = crop = context_crop(box, w, h)
        saliency = np.zeros((h, w), np.float32)
        saliency[y0:y1, x0:x1] = self.saliency_model.saliency(image, crop)
        mask = _filled(image.shape, box) & (saliency > 0.5)
        return mask, float(saliency[mask].mean()) if mask.any() else 0.0
