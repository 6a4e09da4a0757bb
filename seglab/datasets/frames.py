"""Simulator recordings: one folder per sensor, one file per frame, frames matched by file stem.

    ROOT/rgb/000123.png        the colour camera
    ROOT/<sensor>/000123.<ext> the other sensors of the same frame (semantic, depth, ...)

Semantic frames decode through the simulator's own reader (:class:`FrameDataset`); depth frames
are read as metres by :class:`DepthDataset`, the pairs the depth benchmark scores.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .base import DatasetLayoutError, InvalidLabelError, SemanticDataset, SemanticSample, read_label_image, require_dir

RGB = "rgb"


def recording_split(split: str, simulator: str) -> str:
    """``split`` if it is a recording's one split, ``all``; else a :class:`DatasetLayoutError`."""
    if split != "all":
        raise DatasetLayoutError(f"unknown {simulator} split {split!r}: a recording has one split, 'all'")
    return split


def pair_frames(root: Path, sensor: str, suffix: str, what: str) -> list[tuple[str, Path, Path]]:
    """(frame, rgb/<frame>.png, <sensor>/<frame><suffix>) for every colour frame; a missing partner is an error."""
    images = require_dir(root / RGB, "the colour camera's frames (NNNNNN.png)")
    folder = require_dir(root / sensor, what)
    pairs = []
    for image in sorted(images.glob("*.png")):
        partner = folder / f"{image.stem}{suffix}"
        if not partner.is_file():
            raise DatasetLayoutError(f"missing file {partner}: expected the {sensor} frame of {RGB}/{image.name}")
        pairs.append((image.stem, image, partner))
    if not pairs:
        raise DatasetLayoutError(f"no frames in {images}: expected NNNNNN.png files")
    return pairs


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, read from its header."""
    with Image.open(path) as img:
        return img.height, img.width


def check_size(array: np.ndarray, path: Path, image: Path) -> np.ndarray:
    """``array`` if it has the size of ``image``, else an :class:`InvalidLabelError` naming both files."""
    height, width = image_size(image)
    if array.shape[:2] != (height, width):
        raise InvalidLabelError(f"{path.name} is {array.shape[1]}x{array.shape[0]} but its image {image.name} "
                                f"is {width}x{height}")
    return array


@dataclass(frozen=True)
class FrameDataset(SemanticDataset):
    """A semantic data set whose label files ``read_raw`` decodes (a simulator's own format) into raw ids."""

    read_raw: Callable[[Path], np.ndarray] = field(default=read_label_image)

    def load_label(self, sample: SemanticSample) -> np.ndarray:
        raw = check_size(self.read_raw(sample.label_path), sample.label_path, sample.image_path)
        return self.to_train_ids(raw, sample.label_path.name)


@dataclass(frozen=True)
class DepthSample:
    """One depth pair: the colour frame and the depth sensor's file of the same frame."""

    image_id: str
    image_path: Path
    depth_path: Path


@dataclass(frozen=True)
class DepthDataset:
    """Depth pairs of one recording; ``read_depth`` turns a depth file into H x W float32 metres (0 = no depth),
    scored up to ``max_depth`` metres."""

    name: str
    root: Path
    split: str
    samples: tuple[DepthSample, ...]
    read_depth: Callable[[Path], np.ndarray]
    max_depth: float
    note: str = ""

    @property
    def benchmark_name(self) -> str:
        return f"{self.name}-{self.split}"

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[DepthSample]:
        return iter(self.samples)

    def load_depth(self, sample: DepthSample) -> np.ndarray:
        """The sample's depth in metres, checked against its image's size."""
        return check_size(self.read_depth(sample.depth_path), sample.depth_path, sample.image_path)
