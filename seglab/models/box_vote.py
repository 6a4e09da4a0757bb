"""One box's mask in the offline default: a shape prior, saliency, GrabCut and clicks vote per pixel on its crop.

Pure functions over one crop at working resolution (:class:`.embedded.EmbeddedSegmenter` cuts the crop,
runs the saliency network and maps the mask back): the shape prior is the ellipse inscribed in the box
(a tight box is mostly object near its centre), or a brushed region with a softened edge; GrabCut starts
from the box and its vote is dropped when it collapses (camouflaged objects); clicks add local votes and
GrabCut seeds.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

CONTEXT = 0.25  # crop around the box, as a fraction of its size, for saliency and GrabCut's background
GRABCUT_ITERATIONS = 2
SALIENCY_WEIGHT = 0.25
GRABCUT_WEIGHT = 0.5
CLICK_WEIGHT = 3.0  # a click outvotes the other cues near it
CLICK_SIGMA = 0.1  # reach of a click, as a fraction of the box diagonal
MIN_GRABCUT_FILL = 0.2  # GrabCut keeping less of the box than this has collapsed: its vote is dropped
REGION_BLUR = 0.03  # softening of a region prompt's edge, as a fraction of the box diagonal


def vote_foreground(image: np.ndarray, saliency: Callable[[], np.ndarray], box: np.ndarray, pts: np.ndarray,
                    labels: np.ndarray, region: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Foreground where shape prior, saliency, GrabCut and clicks vote for it inside ``box``, and its score.

    All inputs are in the pixels of one crop; ``region`` is a soft 0..1 map or None. ``saliency`` is
    called once GrabCut has run, so that a network run behind it can overlap GrabCut.
    """
    inside = np.zeros(image.shape[:2], bool)
    inside[int(box[1]):int(np.ceil(box[3])), int(box[0]):int(np.ceil(box[2]))] = True
    diagonal = float(np.hypot(box[2] - box[0], box[3] - box[1]))
    prior, seeds = _prior_and_seeds(inside, box, region, diagonal)
    vote = prior.copy()
    for (x, y), positive in zip(pts, labels):
        cv2.circle(seeds, (int(x), int(y)), max(2, round(0.02 * diagonal)), cv2.GC_FGD if positive else cv2.GC_BGD, -1)
        vote += (CLICK_WEIGHT if positive else -CLICK_WEIGHT) * _bump(vote.shape, x, y, CLICK_SIGMA * diagonal)
    grabcut = _grabcut(image, seeds) & inside
    grabcut_kept = grabcut.sum() >= MIN_GRABCUT_FILL * inside.sum()
    if grabcut_kept:
        vote += GRABCUT_WEIGHT * (grabcut - 0.5)
    salient = saliency()
    vote += SALIENCY_WEIGHT * (salient - 0.5)
    fg = _keep_clicked((vote > 0) & inside, pts[labels == 1])
    agreement = (fg & grabcut).sum() / max((fg | grabcut).sum(), 1) if grabcut_kept else 0.0
    return fg, float(agreement + (salient[fg].mean() if fg.any() else 0.0)) / 2


def _prior_and_seeds(inside: np.ndarray, box: np.ndarray, region: np.ndarray | None,
                     diagonal: float) -> tuple[np.ndarray, np.ndarray]:
    """The shape prior (> 0 votes for the object, 1 at most) and GrabCut's GC_* seed map.

    Box: the ellipse inscribed in it, and the whole box as probable foreground. Region: the
    region with a softened edge, and the region as probable foreground.
    """
    if region is None:
        prior = 1 - _ellipse_radius(inside.shape, box)
        return prior, np.where(inside, cv2.GC_PR_FGD, cv2.GC_BGD).astype(np.uint8)
    prior = 2 * cv2.GaussianBlur(region, (0, 0), max(REGION_BLUR * diagonal, 0.5)) - 1
    probable = np.where(prior > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    return prior, np.where(inside, probable, cv2.GC_BGD).astype(np.uint8)


def context_crop(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The box grown by ``CONTEXT`` of its size (at least 4 px) on each side, clipped to the image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = (x1 - x0) * CONTEXT + 4, (y1 - y0) * CONTEXT + 4
    return (int(max(x0 - mx, 0)), int(max(y0 - my, 0)),
            int(min(np.ceil(x1 + mx), width)), int(min(np.ceil(y1 + my), height)))


def _ellipse_radius(shape: tuple[int, int], box: np.ndarray) -> np.ndarray:
    """Per pixel, its normalised radius in the ellipse inscribed in ``box``: < 1 inside, 0 at the centre."""
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32) + 0.5
    return np.hypot((xs - (x0 + x1) / 2) / max((x1 - x0) / 2, 0.5), (ys - (y0 + y1) / 2) / max((y1 - y0) / 2, 0.5))


def _bump(shape: tuple[int, int], x: float, y: float, sigma: float) -> np.ndarray:
    """A Gaussian of height 1 centred on (x, y)."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32) + 0.5
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * max(sigma, 1.0) ** 2))


def _grabcut(image: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """GrabCut's foreground from a GC_* seed map, reproducibly: OpenCV's (per-thread) RNG is seeded first."""
    labels = seeds.copy()
    if not np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).any() or not np.isin(labels, (cv2.GC_BGD, cv2.GC_PR_BGD)).any():
        return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(np.ascontiguousarray(image), labels, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # too few pixels of one side for a colour model: keep the seeds
        return np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))


def _keep_clicked(mask: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """The connected parts of ``mask`` under the (N, 2) positive clicks; the whole mask when no click hits it."""
    if not len(positives) or not mask.any():
        return mask
    _, parts = cv2.connectedComponents(mask.astype(np.uint8))
    h, w = mask.shape
    hit = {int(parts[min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1)]) for x, y in positives} - {0}
    return np.isin(parts, list(hit)) if hit else mask
