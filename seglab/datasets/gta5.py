"""GTA V "Playing for Data" (Richter et al., ECCV 2016): game frames with Cityscapes-compatible label ids.

    ROOT/images/00001.png ...
    ROOT/labels/00001.png ...        (palette PNGs whose indices are Cityscapes label ids)
    ROOT/split.mat                    (optional: trainIds / valIds / testIds of the official split)
"""
from __future__ import annotations

from pathlib import Path

from . import cityscapes
from .base import DatasetLayoutError, SemanticDataset, SemanticSample, require_dir

SPLITS = ("train", "val", "test", "all")
NOTE = "full resolution 1914x1052; Cityscapes' 19 classes"


def load(root: str | Path, split: str = "all") -> SemanticDataset:
    """The frames of ``split``: 'all', or 'train' / 'val' / 'test' from the official ``split.mat``."""
    root = Path(root)
    if split not in SPLITS:
        raise DatasetLayoutError(f"unknown GTA5 split {split!r}; choose one of {', '.join(SPLITS)}")
    images = require_dir(root / "images", "the frames (the 0X_images.zip parts unpacked together)")
    labels = require_dir(root / "labels", "the label ids (the 0X_labels.zip parts unpacked together)")
    files = sorted(images.glob("*.png"))
    if split != "all":
        wanted = {f"{int(i):05d}.png" for i in _split_ids(root, split)}
        files = [f for f in files if f.name in wanted]
    samples = []
    for image in files:
        label = labels / image.name
        if not label.is_file():
            raise DatasetLayoutError(f"missing file {label}: expected the labels of images/{image.name}")
        samples.append(SemanticSample(image.stem, image, label))
    if not samples:
        raise DatasetLayoutError(f"no frames of split {split!r} in {images}: expected NNNNN.png files")
    names, lut = cityscapes.label_table()
    return SemanticDataset("gta5", root, split, tuple(samples), names, lut, label_set=cityscapes.LABEL_SET, note=NOTE)


def _split_ids(root: Path, split: str) -> list[int]:
    from scipy.io import loadmat

    path = root / "split.mat"
    if not path.is_file():
        raise DatasetLayoutError(
            f"missing file {path}: expected the official split (from the GTA5 download page) to select "
            f"{split!r}; use split='all' to evaluate every frame")
    return [int(i) for i in loadmat(path)[f"{split}Ids"].reshape(-1)]
