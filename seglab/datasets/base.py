"""What every semantic data set loader returns: samples (image + label file) and a label table."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import SeglabError

UNKNOWN = -1  # marks raw label ids the data set does not define, in a lookup table


class DatasetLayoutError(SeglabError, FileNotFoundError):
    """A data set folder is not in the expected layout (a file or folder is missing)."""


class InvalidLabelError(SeglabError, ValueError):
    """A label image does not fit its image, or holds ids the data set does not define."""


@dataclass(frozen=True)
class SemanticSample:
    """One evaluation pair: the image and its raw label image (ids as stored by the data set)."""

    image_id: str
    image_path: Path
    label_path: Path


@dataclass(frozen=True)
class SemanticDataset:
    """Samples of one split plus the table that turns stored label ids into train ids.

    ``lut[raw_id]`` is the train id (``0 .. num_classes-1``), ``ignore_index`` for
    pixels left out of the evaluation, or ``UNKNOWN`` for ids the data set does not define.
    ``label_set`` names the :mod:`seglab.datasets.labels` set whose models predict these train ids
    ('' when no registry model does).
    """

    name: str
    root: Path
    split: str
    samples: tuple[SemanticSample, ...]
    class_names: tuple[str, ...]
    lut: np.ndarray
    label_set: str = ""
    ignore_index: int = 255
    note: str = ""  # evaluation resolution and protocol, shown in benchmark reports
    eval_size: tuple[int, int] | None = None  # (h, w) images are scored at when their labels are smaller

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def benchmark_name(self) -> str:
        """The results' ``dataset`` column, as in the registry's published numbers (e.g. ``cityscapes-val``)."""
        return f"{self.name}-{self.split}"

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[SemanticSample]:
        return iter(self.samples)

    def load_label(self, sample: SemanticSample) -> np.ndarray:
        """The H x W train-id map of a sample (``ignore_index`` where not evaluated), checked against its image."""
        raw = read_label_image(sample.label_path)
        with Image.open(sample.image_path) as img:
            width, height = img.size
        if raw.shape != (height, width):
            raise InvalidLabelError(
                f"{sample.label_path.name} is {raw.shape[1]}x{raw.shape[0]} but its image "
                f"{sample.image_path.name} is {width}x{height}")
        return self.to_train_ids(raw, sample.label_path.name)

    def to_train_ids(self, raw: np.ndarray, where: str = "the label image") -> np.ndarray:
        """Map stored label ids to train ids; ids outside the table raise :class:`InvalidLabelError`."""
        ids = np.unique(raw)
        bad = [int(i) for i in ids if i < 0 or i >= len(self.lut) or self.lut[i] == UNKNOWN]
        if bad:
            known = np.flatnonzero(self.lut != UNKNOWN)
            raise InvalidLabelError(
                f"{where} has label id(s) {bad[:5]} that {self.name} does not define "
                f"(known ids: {known.min()}..{known.max()})")
        return self.lut[raw].astype(np.int32)


def read_label_image(path: Path) -> np.ndarray:
    """A single-channel label PNG as an integer array (palette PNGs give their indices, not colours)."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
                raise InvalidLabelError(
                    f"{path.name} is a {img.mode} image; expected a single-channel label image of ids "
                    f"(not the colour visualisation)")
            return np.asarray(img)
    except OSError as e:
        raise InvalidLabelError(f"cannot read the label image {path}: {e}") from None


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else a :class:`DatasetLayoutError` saying what was expected there."""
    if not path.is_dir():
        raise DatasetLayoutError(f"missing folder {path}: expected {what}")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DatasetLayoutError(f"missing file {path}: expected {what}")
    return path


def pair_labels(images: Path, labels: Path, what: str, expected: str) -> tuple[SemanticSample, ...]:
    """One sample per ``images/*.jpg`` with its ``labels/<stem>.png``; a missing label or no image is an error
    naming ``what`` the label is and the ``expected`` image files."""
    samples = []
    for image in sorted(images.glob("*.jpg")):
        label = labels / f"{image.stem}.png"
        if not label.is_file():
            raise DatasetLayoutError(f"missing file {label}: expected {what} of {image.name}")
        samples.append(SemanticSample(image.stem, image, label))
    if not samples:
        raise DatasetLayoutError(f"no images in {images}: expected {expected}")
    return tuple(samples)
