"""Semantic and part segmentation data sets in their official layouts (ADE20K, driving scenes, faces), read by name.

    ds = load_semantic_dataset("cityscapes", "/data/cityscapes")
    for sample in ds:
        labels = ds.load_label(sample)  # H x W train ids, 255 = ignore

and the label sets models predict (:mod:`seglab.datasets.labels`), by a registry entry's ``labels``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import SeglabError
from .base import DatasetLayoutError, InvalidLabelError, SemanticDataset, SemanticSample, read_label_image
from .labels import LABEL_SETS, LabelSet, get_label_set

# name -> (module, the split evaluated by default)
DATASETS: dict[str, tuple[str, str]] = {
    "ade20k": ("ade20k", "val"),
    "cityscapes": ("cityscapes", "val"),
    "mapillary": ("mapillary", "val"),
    "gta5": ("gta5", "all"),
    "celebamask-hq": ("celebamask_hq", "test"),
}


def load_semantic_dataset(name: str, root: str | Path, split: str | None = None, **options: Any) -> SemanticDataset:
    """The data set ``name`` (a key of :data:`DATASETS`) found under ``root``.

    ``split`` defaults to the evaluation split ('val'; 'all' for GTA5, 'test' for CelebAMask-HQ). Options go to the
    loader (Mapillary: ``version='v1.2'|'v2.0'``). A folder in the wrong layout raises
    :class:`DatasetLayoutError` naming what is missing.
    """
    import importlib

    if name not in DATASETS:
        raise SeglabError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    module, default_split = DATASETS[name]
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"no folder at {root}: point --root at the unpacked {name} data set")
    loader = importlib.import_module(f"{__name__}.{module}")
    return loader.load(root, split or default_split, **options)


__all__ = ["DATASETS", "DatasetLayoutError", "InvalidLabelError", "LABEL_SETS", "LabelSet", "SemanticDataset",
           "SemanticSample", "get_label_set", "load_semantic_dataset", "read_label_image"]
