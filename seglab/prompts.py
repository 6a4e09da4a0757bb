"""Prompts for promptable models: points, boxes, a rough region and text, in image pixels."""
from __future__ import annotations

import reprlib
from dataclasses import dataclass

import numpy as np

from .errors import InvalidPromptError


@dataclass(frozen=True)
class Prompt:
    """Any mix of prompts, in original image pixel coordinates (x right, y down).

    ``point_labels``: 1 foreground, 0 background. ``boxes``: xyxy. ``region``: a rough
    H x W mask or scribble. ``text``: a phrase such as "dog". Use :meth:`validated`
    before handing it to a model.
    """

    points: np.ndarray | None = None  # (N, 2) float32 xy
    point_labels: np.ndarray | None = None  # (N,) int64
    boxes: np.ndarray | None = None  # (M, 4) float32 xyxy
    region: np.ndarray | None = None  # (H, W) bool
    text: str | None = None

    @classmethod
    def build(cls, points: list | np.ndarray | None = None, labels: list | np.ndarray | None = None,
              boxes: list | np.ndarray | None = None, box: list | np.ndarray | None = None,
              region: np.ndarray | None = None, text: str | None = None) -> Prompt:
        """Convenience constructor from lists: ``Prompt.build(points=[(x, y)], labels=[1], box=[x0, y0, x1, y1])``."""
        pts, lab = _rows(points, 2, "a point is [x, y]"), None
        if len(pts):
            lab = np.ones(len(pts), np.int64) if labels is None else _rows(labels, 1, "a label is 1 or 0").astype(
                np.int64).reshape(-1)
        bx = np.concatenate([_rows(b, 4, "a box is [x0, y0, x1, y1]") for b in (boxes, box)])
        return cls(pts if len(pts) else None, lab, bx if len(bx) else None,
                   None if region is None else np.asarray(region).astype(bool), text)

    @property
    def is_empty(self) -> bool:
        return (self.points is None and self.boxes is None
                and (self.region is None or not self.region.any()) and not (self.text or "").strip())

    @property
    def kinds(self) -> tuple[str, ...]:
        """Which prompt kinds are present, e.g. ('points', 'box')."""
        out = []
        if self.points is not None:
            out.append("points")
        if self.boxes is not None:
            out.append("box")
        if self.region is not None:
            out.append("region")
        if self.text:
            out.append("text")
        return tuple(out)

    def validated(self, height: int, width: int) -> Prompt:
        """Checked and normalised for an H x W image.

        Inverted boxes (dragged up-left) are reordered and boxes partly outside are
        clipped; points outside, boxes entirely outside or of zero area, a region of
        the wrong size or with no pixel, and blank text raise :class:`InvalidPromptError`.
        """
        if self.points is None and self.boxes is None and self.region is None and self.text is None:
            raise InvalidPromptError("no prompt: add a point, a box, a region or a text prompt")
        pts, lab = (None, None) if self.points is None else _check_points(self.points, self.point_labels, height, width)
        boxes = None if self.boxes is None else _check_boxes(np.asarray(self.boxes, np.float32).reshape(-1, 4),
                                                             height, width)
        region = None if self.region is None else _check_region(self.region, height, width)
        text = None if self.text is None else _check_text(self.text)
        return Prompt(pts, lab, boxes, region, text)


def _rows(values: list | np.ndarray | None, width: int, form: str) -> np.ndarray:
    """``values`` as float32 rows of ``width`` numbers (a flat list of them too; no rows for None or empty);
    InvalidPromptError saying ``form`` when they are not numbers or do not make whole rows."""
    try:
        array = np.asarray([] if values is None else values, np.float32)
    except (ValueError, TypeError):
        raise InvalidPromptError(
            f"{form}, in a list of equal-length lists of numbers: got {reprlib.repr(values)}") from None
    if array.size % width:
        count = f"{array.size} number{'s' * (array.size != 1)}"
        raise InvalidPromptError(f"{form}: got {count} in {reprlib.repr(values)}")
    return array.reshape(-1, width)


def _check_points(points: np.ndarray, labels: np.ndarray | None, height: int,
                  width: int) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    lab = np.ones(len(pts), np.int64) if labels is None else np.asarray(labels, np.int64).reshape(-1)
    if len(lab) != len(pts):
        raise InvalidPromptError(f"{len(pts)} points but {len(lab)} point labels")
    if not np.isin(lab, (0, 1)).all():
        raise InvalidPromptError("point labels must be 1 (foreground) or 0 (background)")
    if not np.isfinite(pts).all():
        raise InvalidPromptError("a point has a non-finite coordinate")
    outside = (pts[:, 0] < 0) | (pts[:, 0] > width) | (pts[:, 1] < 0) | (pts[:, 1] > height)
    if outside.any():
        x, y = pts[np.argmax(outside)]
        raise InvalidPromptError(f"point ({x:.0f}, {y:.0f}) is outside the {width}x{height} image")
    return pts, lab


def _check_region(region: np.ndarray, height: int, width: int) -> np.ndarray:
    region = np.asarray(region).astype(bool)
    if region.shape != (height, width):
        raise InvalidPromptError(f"the region is {region.shape[1]}x{region.shape[0]} but the image is {width}x{height}")
    if not region.any():
        raise InvalidPromptError("the region prompt is empty: brush over the object first")
    return region


def _check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidPromptError("the text prompt is empty: type what to segment, e.g. 'dog'")
    return text


def _check_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    if not np.isfinite(boxes).all():
        raise InvalidPromptError("a box has a non-finite coordinate")
    x0, x1 = np.minimum(boxes[:, 0], boxes[:, 2]), np.maximum(boxes[:, 0], boxes[:, 2])
    y0, y1 = np.minimum(boxes[:, 1], boxes[:, 3]), np.maximum(boxes[:, 1], boxes[:, 3])
    out = np.stack([x0.clip(0, width), y0.clip(0, height), x1.clip(0, width), y1.clip(0, height)], 1)
    for b, c in zip(np.stack([x0, y0, x1, y1], 1), out):
        if b[2] - b[0] < 1 or b[3] - b[1] < 1:
            what = "has zero area"
        elif c[2] - c[0] < 1 or c[3] - c[1] < 1:
            what = f"lies outside the {width}x{height} image"
        else:
            continue
        raise InvalidPromptError(f"box ({b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}) {what}")
    return out.astype(np.float32)
