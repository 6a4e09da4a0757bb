"""CelebAMask-HQ (Lee et al., CVPR 2020): 30,000 faces with 18 part masks each, read in its download's layout.

    ROOT/CelebA-HQ-img/0.jpg ...                         (1024 x 1024)
    ROOT/CelebAMask-HQ-mask-anno/0/00000_skin.png ...    (512 x 512, one binary PNG per present part; folder k // 2000)
    ROOT/CelebA-HQ-to-CelebA-mapping.txt                 (idx orig_idx orig_file: the split comes from orig_idx)

The label map of an image is built as the official ``g_mask.py`` builds it: part k of its ``label_list`` gives its
pixels label k + 1 (0 background), a later part overwriting an earlier one. The split follows ``g_partition.py``:
CelebA's own partition of the original image (val 162771 <= orig_idx < 182638, test from 182638, train below).
Images are scored at the annotations' 512 x 512 (``eval_size``), as the official face-parsing tester does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .base import DatasetLayoutError, InvalidLabelError, SemanticDataset, SemanticSample, require_dir, require_file
from .labels import CELEBAMASK_HQ_19

PARTS = CELEBAMASK_HQ_19[1:]  # g_mask.py's label_list
SIZE = (512, 512)
SPLITS = {"train": (0, 162771), "val": (162771, 182638), "test": (182638, 1 << 31), "all": (0, 1 << 31)}
NOTE = "the test split of CelebA's partition, scored at the annotations' 512 x 512; 18 face parts + background"


@dataclass(frozen=True)
class CelebAMaskHQ(SemanticDataset):
    """A sample's ``label_path`` is its folder of part masks; :meth:`load_label` merges them."""

    def load_label(self, sample: SemanticSample) -> np.ndarray:
        """The 512 x 512 part map of a sample (0 background, 1..18 the parts of ``PARTS``)."""
        labels = np.zeros(SIZE, np.int32)
        for index, part in enumerate(PARTS, 1):
            path = sample.label_path / f"{int(sample.image_id):05d}_{part}.png"
            if not path.is_file():
                continue  # the part is not in this face
            try:
                with Image.open(path) as img:
                    mask = np.asarray(img.convert("L"))
            except OSError as e:
                raise InvalidLabelError(f"cannot read the part mask {path}: {e}") from None
            if mask.shape != SIZE:
                raise InvalidLabelError(f"{path.name} is {mask.shape[1]}x{mask.shape[0]}, not 512x512")
            labels[mask != 0] = index
        return labels


def load(root: str | Path, split: str = "test") -> CelebAMaskHQ:
    """The faces of ``split`` ('train', 'val', 'test' or 'all') with their part annotations."""
    root = Path(root)
    if split not in SPLITS:
        raise DatasetLayoutError(f"unknown CelebAMask-HQ split {split!r}; choose one of {', '.join(SPLITS)}")
    images = require_dir(root / "CelebA-HQ-img", "the 1024 x 1024 face images (N.jpg)")
    annotations = require_dir(root / "CelebAMask-HQ-mask-anno", "the part masks, in folders 0..14")
    low, high = SPLITS[split]
    samples = []
    for idx, orig_idx in _mapping(require_file(root / "CelebA-HQ-to-CelebA-mapping.txt",
                                               "the CelebA-HQ to CelebA index table of the download")):
        if low <= orig_idx < high:
            image = images / f"{idx}.jpg"
            if not image.is_file():
                raise DatasetLayoutError(f"missing file {image}: listed in CelebA-HQ-to-CelebA-mapping.txt")
            samples.append(SemanticSample(str(idx), image, require_dir(annotations / str(idx // 2000),
                                                                       f"the part masks of image {idx}")))
    if not samples:
        raise DatasetLayoutError(f"no image of split {split!r} is listed in {root / 'CelebA-HQ-to-CelebA-mapping.txt'}")
    lut = np.arange(len(CELEBAMASK_HQ_19), dtype=np.int64)
    return CelebAMaskHQ("celebamask-hq", root, split, tuple(samples), CELEBAMASK_HQ_19, lut,
                        label_set="celebamask-hq-19", note=NOTE, eval_size=SIZE)


def _mapping(path: Path) -> list[tuple[int, int]]:
    """(idx, orig_idx) rows of the mapping file (its header line skipped)."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        fields = line.split()
        if not fields or (n == 0 and not fields[0].isdigit()):
            continue
        try:
            rows.append((int(fields[0]), int(fields[1])))
        except (ValueError, IndexError):
            raise DatasetLayoutError(f"{path.name} line {n + 1} is not 'idx orig_idx orig_file': {line!r}") from None
    return rows
