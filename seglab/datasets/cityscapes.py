"""Cityscapes in its official layout, with the 19 train ids of ``cityscapesscripts``' label table.

    ROOT/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    ROOT/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
    ROOT/gtFine/cityscapes_panoptic_<split>.json + folder   (panoptic: made by cityscapesScripts'
                                                             createPanopticImgs from the fine labels)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..formats import FormatError, read_coco_panoptic
from .base import UNKNOWN, DatasetLayoutError, SemanticDataset, SemanticSample, require_dir

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
LABEL_SET = "cityscapes-19"  # the models' train ids (seglab.datasets.labels)
NOTE = "full resolution 2048x1024; 19 classes; official ignore labels excluded"


def label_table(ignore_index: int = 255) -> tuple[tuple[str, ...], np.ndarray]:
    """(class names by train id, lookup table label id -> train id) from ``cityscapesscripts.helpers.labels``."""
    from cityscapesscripts.helpers.labels import labels

    lut = np.full(256, UNKNOWN, np.int16)
    names: dict[int, str] = {}
    for label in labels:
        if label.id < 0:  # 'license plate' (-1) never appears in label images
            continue
        evaluated = not label.ignoreInEval and label.trainId not in (255, -1)
        lut[label.id] = label.trainId if evaluated else ignore_index
        if evaluated:
            names[label.trainId] = label.name
    return tuple(names[i] for i in range(len(names))), lut


def _images(root: Path, split: str) -> Path:
    return require_dir(root / "leftImg8bit" / split,
                        f"the images of the {split} split (leftImg8bit_trainvaltest.zip unpacked in {root})")


def load_panoptic(root: str | Path, split: str = "val") -> tuple[dict, Path, Path]:
    """(panoptic JSON parsed, its PNG folder, the images folder) of Cityscapes ``split`` under ``root``.

    The ground truth is cityscapesScripts' COCO-format conversion of the fine labels (category ids are
    Cityscapes label ids, image ids are the file stems); a folder without it gets the command that makes it.
    """
    root = Path(root)
    images = _images(root, split)
    gt = root / "gtFine" / f"cityscapes_panoptic_{split}.json"
    if not gt.is_file():
        raise DatasetLayoutError(
            f"missing {gt}: make the panoptic ground truth from the fine labels with `python -m "
            f"cityscapesscripts.preparation.createPanopticImgs --dataset-folder {root / 'gtFine'} --set-names {split}`")
    try:
        data, folder = read_coco_panoptic(gt)
    except FormatError as err:
        raise DatasetLayoutError(str(err)) from None
    if not data.get("images") or not data.get("categories"):
        raise DatasetLayoutError(f"{gt} lacks its 'images' or 'categories' list: remake it with createPanopticImgs")
    return data, folder, images


def load(root: str | Path, split: str = "val") -> SemanticDataset:
    """Cityscapes ``split`` ('train', 'val' or 'test') under ``root``; every image must have its labelIds file."""
    root = Path(root)
    images = _images(root, split)
    labels = require_dir(root / "gtFine" / split,
                         f"the fine labels of the {split} split (gtFine_trainvaltest.zip unpacked in {root})")
    samples = []
    for image in sorted(images.glob(f"*/*{IMAGE_SUFFIX}")):
        stem = image.name[: -len(IMAGE_SUFFIX)]
        label = labels / image.parent.name / f"{stem}{LABEL_SUFFIX}"
        if not label.is_file():
            raise DatasetLayoutError(f"missing file {label}: expected the label ids of {image.name}")
        samples.append(SemanticSample(stem, image, label))
    if not samples:
        raise DatasetLayoutError(f"no images in {images}: expected <city>/<name>{IMAGE_SUFFIX} files")
    names, lut = label_table()
    return SemanticDataset("cityscapes", root, split, tuple(samples), names, lut, label_set=LABEL_SET, note=NOTE)
