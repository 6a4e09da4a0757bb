"""ADE20K SceneParsing (ADEChallengeData2016, the 150-class benchmark) in its official layout.

    ROOT/images/validation/ADE_val_00000001.jpg ...
    ROOT/annotations/validation/ADE_val_00000001.png ...   (ids 0..150 of objectInfo150; 0 = other)

Labels are reduced as mmseg's ``reduce_zero_label`` does: 0 (other) is ignored (255), id k becomes
train id k - 1, the class order of the ``ade20k-150`` label set its models predict.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import UNKNOWN, DatasetLayoutError, SemanticDataset, pair_labels, require_dir
from .labels import get_label_set

LABEL_SET = "ade20k-150"
FOLDERS = {"train": "training", "val": "validation"}  # split -> the archive's folder name
NOTE = "original resolution; 150 classes, 'other' (0) ignored (reduce_zero_label)"


def label_table(ignore_index: int = 255) -> tuple[tuple[str, ...], np.ndarray]:
    """(class names by train id, lookup table stored id -> train id): 0 -> ignore, k -> k - 1."""
    labels = get_label_set(LABEL_SET)
    lut = np.full(256, UNKNOWN, np.int16)
    lut[0] = ignore_index
    for category, train_id in zip(labels.categories, labels.model_ids):
        lut[category.id] = train_id
    return labels.names, lut


def load(root: str | Path, split: str = "val") -> SemanticDataset:
    """ADE20K ``split`` ('val' or 'train') under ``root`` (the unpacked ADEChallengeData2016 folder)."""
    root = Path(root)
    if split not in FOLDERS:
        raise DatasetLayoutError(f"unknown ADE20K split {split!r}; choose one of {', '.join(FOLDERS)}")
    if not (root / "images").is_dir() and (root / "ADEChallengeData2016").is_dir():
        raise DatasetLayoutError(f"{root} holds ADEChallengeData2016/: point --root at {root / 'ADEChallengeData2016'}")
    folder = FOLDERS[split]
    images = require_dir(root / "images" / folder, f"the {split} images (ADEChallengeData2016.zip unpacked in {root})")
    labels = require_dir(root / "annotations" / folder, f"the {split} annotations (ADEChallengeData2016.zip "
                                                        f"unpacked in {root})")
    samples = pair_labels(images, labels, "the annotation", "ADE_*.jpg files")
    names, lut = label_table()
    return SemanticDataset("ade20k", root, split, samples, names, lut, label_set=LABEL_SET, note=NOTE)
