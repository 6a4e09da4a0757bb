"""Semantic and part segmentation data sets in their official layouts (ADE20K, driving scenes, faces, simulator
recordings), read by name.

    ds = load_semantic_dataset("cityscapes", "/data/cityscapes")
    for sample in ds:
        labels = ds.load_label(sample)  # H x W train ids, 255 = ignore
    pairs = load_depth_dataset("carla", "/data/carla-town10")  # simulators' depth frames
    depth = pairs.load_depth(pairs.samples[0])                 # H x W metres

and the label sets models predict (:mod:`seglab.datasets.labels`), by a registry entry's ``labels``.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import SeglabError
from .base import DatasetLayoutError, InvalidLabelError, SemanticDataset, SemanticSample, read_label_image
from .frames import DepthDataset, DepthSample
from .labels import LABEL_SETS, LabelSet, get_label_set

# name -> (module, the split evaluated by default)
DATASETS: dict[str, tuple[str, str]] = {
    "ade20k": ("ade20k", "val"),
    "cityscapes": ("cityscapes", "val"),
    "mapillary": ("mapillary", "val"),
    "gta5": ("gta5", "all"),
    "celebamask-hq": ("celebamask_hq", "test"),
    "carla": ("carla", "all"),
    "habitat": ("habitat", "all"),
}
DEPTH_DATASETS = ("carla", "habitat")  # those of DATASETS whose loader also reads depth frames (``load_depth``)


def load_semantic_dataset(name: str, root: str | Path, split: str | None = None, **options: Any) -> SemanticDataset:
    """The data set ``name`` (a key of :data:`DATASETS`) found under ``root``.

    ``split`` defaults to the evaluation split ('val'; 'all' for GTA5, 'test' for CelebAMask-HQ). Options go to the
    loader (Mapillary: ``version='v1.2'|'v2.0'``). A folder in the wrong layout raises
    :class:`DatasetLayoutError` naming what is missing.
    """
    loader, root, default_split = _loader(name, root, DATASETS)
    return loader.load(root, split or default_split, **options)


def load_depth_dataset(name: str, root: str | Path, split: str | None = None) -> DepthDataset:
    """The depth pairs of the recording ``name`` ('carla', 'habitat') under ``root``; same errors as above."""
    loader, root, default_split = _loader(name, root, DEPTH_DATASETS)
    return loader.load_depth(root, split or default_split)


def _loader(name: str, root: str | Path, known: Iterable[str]) -> tuple[ModuleType, Path, str]:
    import importlib

    if name not in known:
        raise SeglabError(f"unknown data set {name!r}; choose one of {', '.join(known)}")
    module, default_split = DATASETS[name]
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"no folder at {root}: point --root at the unpacked {name} data set")
    return importlib.import_module(f"{__name__}.{module}"), root, default_split


__all__ = ["DATASETS", "DEPTH_DATASETS", "LABEL_SETS", "DatasetLayoutError", "DepthDataset", "DepthSample",
           "InvalidLabelError", "LabelSet", "SemanticDataset", "SemanticSample", "get_label_set", "load_depth_dataset",
           "load_semantic_dataset", "read_label_image"]
