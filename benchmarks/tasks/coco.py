"""COCO val2017 ground truth in its official layout, read with clear errors (shared by the COCO tasks)."""
from __future__ import annotations

from pathlib import Path

from pycocotools.coco import COCO

from seglab.formats import FormatError, load_coco_gt, read_coco_panoptic

from . import BenchmarkInputError, RunConfig

SPLIT = "val2017"
NAME = "coco-val2017"


def coco_root(config: RunConfig) -> Path:
    """The COCO folder given with --coco-root, checked to hold val2017/."""
    if config.coco_root is None:
        raise BenchmarkInputError(f"the {config.task} benchmark needs --coco-root (a folder with {SPLIT}/ and "
                                  "annotations/); `python -m benchmarks.download_coco --root DIR` fetches it")
    root = Path(config.coco_root)
    if not (root / SPLIT).is_dir():
        raise BenchmarkInputError(f"{root} is not a COCO 2017 folder: {root / SPLIT} is missing")
    return root


def image_path(config: RunConfig, file_name: str) -> Path:
    return coco_root(config) / SPLIT / file_name


def instances(config: RunConfig) -> COCO:
    """``annotations/instances_val2017.json`` as a pycocotools ``COCO``."""
    path = coco_root(config) / "annotations" / f"instances_{SPLIT}.json"
    if not path.is_file():
        raise BenchmarkInputError(f"{path} is missing: the instance annotations are in "
                                  "annotations_trainval2017.zip (python -m benchmarks.download_coco)")
    try:
        return load_coco_gt(path)
    except FormatError as err:
        raise BenchmarkInputError(str(err)) from None


def panoptic(config: RunConfig) -> tuple[dict, Path]:
    """(``annotations/panoptic_val2017.json`` parsed, its PNG folder)."""
    path = coco_root(config) / "annotations" / f"panoptic_{SPLIT}.json"
    if not path.is_file():
        raise BenchmarkInputError(f"{path} is missing: the panoptic annotations are in "
                                  "panoptic_annotations_trainval2017.zip (python -m benchmarks.download_coco)")
    try:
        data, folder = read_coco_panoptic(path)
    except FormatError as err:
        raise BenchmarkInputError(str(err)) from None
    if "categories" not in data or "images" not in data:
        raise BenchmarkInputError(f"{path} lacks its 'categories' or 'images' list")
    return data, folder
