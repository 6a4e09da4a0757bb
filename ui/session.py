"""One Segment-tab user's state, kept small: gr.State holds a :class:`SegmentSession` per browser tab and
API client (clients never close theirs), so images and masks live in one byte-bounded store shared by
all sessions, and a session keeps only keys into it (and the uploaded file, to read the image again
once the store has let it go)."""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

import seglab
from seglab.results import RleMasks

# images, their display copies and results of every session together stay under this many bytes
STORE_BYTES = int(float(os.environ.get("SEGLAB_APP_SESSION_CACHE_MB", "512")) * 2**20)
# the canvas is drawn at most this many pixels on its long side (clicks are mapped back to image pixels)
VIEW_SIDE = 1280


def _size(value: Any) -> int:
    return int(value.masks.nbytes if isinstance(value, seglab.Masks) else value.nbytes)  # RleMasks: its RLE bytes


STORE = seglab.LRUCache(STORE_BYTES, size=_size)


@dataclass(frozen=True)
class SegmentSession:
    """The uploaded file, prompt steps in image pixels, the last result's key and the step timings.

    steps: ("point", (x, y, label)) | ("box", xyxy) | ("corner", (x, y)) | ("region", packed bits)
    """

    path: str | None = None
    key: str = ""
    shape: tuple[int, int] = (0, 0)  # (H, W) of the image
    steps: tuple[tuple[str, Any], ...] = ()
    result_key: str = ""
    times: tuple[str, ...] = ()
    level: str = "best score"  # the Level control's choice, kept across clicks
    levelled: bool = False  # the result is one click's multimask answer, whole / part / subpart (seglab.levels)

    @classmethod
    def open(cls, path: str | None) -> SegmentSession:
        """A session for an uploaded file: read once (as seglab.load_image reads it) and put in the store."""
        if path is None:
            return cls()
        image = seglab.load_image(path)
        session = cls(str(path), uuid.uuid4().hex, image.shape[:2])
        STORE.put(("image", session.key), image)
        return session

    @property
    def image(self) -> np.ndarray | None:
        """The image, from the store or read again from its file."""
        if self.path is None:
            return None
        return STORE.get_or_compute(("image", self.key), lambda: seglab.load_image(self.path))

    @property
    def scale(self) -> float:
        """Display pixels per image pixel (at most 1)."""
        return min(1.0, VIEW_SIDE / max(self.shape)) if self.path else 1.0

    @property
    def view(self) -> np.ndarray | None:
        """The image at display size."""
        if self.path is None or self.scale == 1:
            return self.image
        h, w = self.shape
        size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        return STORE.get_or_compute(("view", self.key),
                                    lambda: cv2.resize(self.image, size, interpolation=cv2.INTER_AREA))

    @property
    def result(self) -> seglab.Masks | RleMasks | None:
        """The last result (None once the store has let it go: :attr:`dropped` says so)."""
        return STORE.get(("result", self.result_key)) if self.result_key else None

    @property
    def view_result(self) -> seglab.Masks | RleMasks | None:
        """The last result at display size (computed once: a 12-megapixel result is not decoded per redraw)."""
        result = self.result
        if result is None or result.image_size == self.view.shape[:2]:
            return result
        return STORE.get_or_compute(("view-result", self.result_key), lambda: _resized(result, self.view.shape[:2]))

    @property
    def dropped(self) -> str:
        """Why the last result is gone, when the store let it go ('' while it is here)."""
        if not self.result_key or ("result", self.result_key) in STORE:
            return ""
        return (f"The last result no longer fits in the server's memory for results ({STORE_BYTES // 2**20} MB shared "
                "by every open session; others' images and masks took it): segment again to see it.")

    def with_result(self, result: seglab.Masks | RleMasks | None, line: str | None = None,
                    levelled: bool = False) -> SegmentSession:
        """The session with a new result (put in the store; a result larger than the whole store is kept compact
        or not at all, and :attr:`dropped` says so); ``levelled``: it is ordered whole, part, subpart."""
        key = ""
        if result is not None:
            key = uuid.uuid4().hex
            STORE.put(("result", key), result)
        return replace(self, result_key=key, times=self.times + ((line,) if line else ()), levelled=levelled)

    def cleared(self) -> SegmentSession:
        """The same image with no prompt and no result."""
        return replace(self, steps=(), result_key="", levelled=False)

    def prompt(self, text: str | None = None, scale: float = 1.0) -> seglab.Prompt:
        """The steps as one prompt, in image pixels (times ``scale`` for drawing on the view)."""
        points = [v for k, v in self.steps if k == "point"]
        boxes = [tuple(c * scale for c in v) for k, v in self.steps if k == "box"]
        regions = [self.region(v) for k, v in self.steps if k == "region"]
        region = np.logical_or.reduce(regions) if regions else None
        if region is not None and scale != 1:
            h, w = (max(1, round(s * scale)) for s in self.shape)
            region = cv2.resize(region.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return seglab.Prompt.build(points=[(p[0] * scale, p[1] * scale) for p in points] or None,
                                   labels=[p[2] for p in points] or None, boxes=boxes or None, region=region,
                                   text=(text or "").strip() or None)

    def region(self, packed: np.ndarray) -> np.ndarray:
        h, w = self.shape
        return np.unpackbits(packed, count=h * w).reshape(h, w).astype(bool)

    @property
    def corner(self) -> tuple[float, float] | None:
        return self.steps[-1][1] if self.steps and self.steps[-1][0] == "corner" else None

    def add(self, kind: str, value: Any) -> SegmentSession:
        """One more step (a region as an H x W bool mask); a pending box corner is dropped."""
        if kind == "region":
            value = np.packbits(value)
        steps = tuple(s for s in self.steps if s[0] != "corner")
        return replace(self, steps=steps + ((kind, value),))

    def with_steps(self, prompt: seglab.Prompt) -> SegmentSession:
        """The steps of a prompt given as a whole (JSON), keeping the brushed regions."""
        steps = [s for s in self.steps if s[0] == "region"]
        if prompt.points is not None:
            steps += [("point", (float(x), float(y), int(lab))) for (x, y), lab in zip(prompt.points,
                                                                                   prompt.point_labels)]
        steps += [("box", tuple(float(v) for v in b)) for b in (prompt.boxes if prompt.boxes is not None else [])]
        return replace(self, steps=tuple(steps), result_key="", levelled=False)


def _resized(masks: seglab.Masks | RleMasks, shape: tuple[int, int]) -> seglab.Masks | RleMasks:
    """The masks at the display size (RLE results stay RLE)."""
    if isinstance(masks, RleMasks):
        return masks.resized(shape)
    h, w = shape
    small = np.stack([cv2.resize(m.view(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR) > 0 for m in masks.masks])
    return seglab.Masks(small, masks.scores, labels=masks.labels, class_names=masks.class_names)
