"""Mapillary Vistas v1.2 / v2.0 in the official layout; classes from the release's ``config_v*.json``.

    ROOT/config_v1.2.json  (or config_v2.0.json)
    ROOT/validation/images/<key>.jpg
    ROOT/validation/v1.2/labels/<key>.png   (or v2.0/labels; palette PNGs of label indices)

Labels marked ``"evaluate": false`` in the config (v1.2: 'Unlabeled') are ignored; the
others keep their order, so v1.2 has the 65 classes its published models predict.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .base import UNKNOWN, DatasetLayoutError, SemanticDataset, pair_labels, require_dir, require_file

VERSIONS = ("v1.2", "v2.0")
LABEL_SETS = {"v1.2": "mapillary-vistas-65"}  # seglab.datasets.labels; no registry model predicts v2.0's 124
FOLDERS = {"train": "training", "val": "validation", "test": "testing"}


def label_table(config: Path, ignore_index: int = 255) -> tuple[tuple[str, ...], np.ndarray]:
    """(class names, lookup table label index -> train id) from a ``config_v*.json``."""
    try:
        labels = json.loads(config.read_text())["labels"]
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetLayoutError(f"{config} is not a Mapillary Vistas config (a JSON with 'labels'): {e}") from None
    lut = np.full(max(256, len(labels)), UNKNOWN, np.int16)
    names = []
    for index, label in enumerate(labels):
        if label.get("evaluate", True):
            lut[index] = len(names)
            names.append(label.get("readable", label["name"]))
        else:
            lut[index] = ignore_index
    return tuple(names), lut


def load(root: str | Path, split: str = "val", version: str | None = None) -> SemanticDataset:
    """Vistas ``split`` under ``root``; ``version`` 'v1.2' or 'v2.0' (default: v1.2 if present, else v2.0)."""
    root = Path(root)
    if split not in FOLDERS:
        raise DatasetLayoutError(f"unknown Mapillary Vistas split {split!r}; choose one of {', '.join(FOLDERS)}")
    folder = require_dir(root / FOLDERS[split], f"the {split} split of Mapillary Vistas (unpacked in {root})")
    images = require_dir(folder / "images", "the .jpg images of the split")
    if version is None:
        version = next((v for v in VERSIONS if (folder / v / "labels").is_dir()), None)
        if version is None:
            raise DatasetLayoutError(f"missing folder {folder}/v1.2/labels or {folder}/v2.0/labels: "
                                     f"expected the label PNGs of one release")
    elif version not in VERSIONS:
        raise DatasetLayoutError(f"unknown Mapillary Vistas version {version!r}; choose one of {', '.join(VERSIONS)}")
    labels = require_dir(folder / version / "labels", f"the {version} label PNGs")
    config = require_file(root / f"config_{version}.json", f"the {version} class list shipped with the release")
    names, lut = label_table(config)
    samples = pair_labels(images, labels, "the labels", "<key>.jpg files")
    name = "mapillary-vistas" if version == "v1.2" else f"mapillary-vistas-{version}"
    return SemanticDataset(name, root, split, samples, names, lut, label_set=LABEL_SETS.get(version, ""),
                           note=f"{version}, {len(names)} classes, images at full resolution")
