"""habitat-sim sensor recordings: colour, depth and semantic observations of one agent, plus the scene's categories.

    ROOT/rgb/000123.png       the COLOR sensor's H x W x 4 uint8 observation, saved as a PNG
    ROOT/depth/000123.npy     the DEPTH sensor's H x W float32 observation, metres along the optical axis
                              (0 where nothing was hit), saved as is with ``np.save``
    ROOT/semantic/000123.npy  the SEMANTIC sensor's H x W uint32 object ids, saved as is with ``np.save``
    ROOT/objects.json         {"<object semantic_id>": "<mpcat40 name>", ...}: every object of the scene's
                              semantic annotation (``sim.semantic_scene.objects``) and its mpcat40 category

Depth stays float32 metres as the sensor returns it (no rounding to millimetres). Semantic frames are scored
on the 40 mpcat40 categories (1 wall .. 40 misc; 0 void and 41 unlabeled ignored, and so is object id 0 unless
``objects.json`` lists it). The table is habitat-sim's ``data/matterport_semantics/matterport_category_mappings.tsv``
(``mpcat40index``, ``mpcat40``; facebookresearch/habitat-sim 57ee4941dc4765240f0f91f70b2c97a919bf9038); HM3D's
raw categories map to these names in its ``data/hm3d_semantics/hm3dsem_category_mappings.tsv``. No registry
model predicts mpcat40, so semantic frames score only a future model (``--random-init`` measures latency).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .base import UNKNOWN, DatasetLayoutError, InvalidLabelError, SemanticSample, require_file
from .frames import DepthDataset, DepthSample, FrameDataset, pair_frames, recording_split

MAX_DEPTH = 10.0  # metres scored: indoor scenes, as NYU
OBJECTS = "objects.json"
NOTE = "habitat-sim semantic sensor, objects mapped to the 40 mpcat40 categories"
DEPTH_NOTE = f"habitat-sim depth sensor (float32 metres), capped at {MAX_DEPTH:g} m; relative models aligned per image"
MPCAT40 = (  # mpcat40index 0..41
    "void", "wall", "floor", "chair", "door", "table", "picture", "cabinet", "cushion", "window", "sofa", "bed",
    "curtain", "chest_of_drawers", "plant", "sink", "stairs", "ceiling", "toilet", "stool", "towel", "mirror",
    "tv_monitor", "shower", "column", "bathtub", "counter", "fireplace", "lighting", "beam", "railing", "shelving",
    "blinds", "gym_equipment", "seating", "board_panel", "furniture", "appliances", "clothes", "objects", "misc",
    "unlabeled",
)
IGNORED = ("void", "unlabeled")
CLASSES = tuple(n for n in MPCAT40 if n not in IGNORED)


def label_table(objects: Path, ignore_index: int = 255) -> tuple[tuple[str, ...], np.ndarray]:
    """(the 40 mpcat40 class names, lookup table object id -> class index) from the recording's ``objects.json``."""
    try:
        table = {int(k): v for k, v in json.loads(objects.read_text()).items()}
    except (ValueError, AttributeError) as e:
        raise DatasetLayoutError(f"{objects} is not a JSON object of object id -> mpcat40 name: {e}") from None
    unknown = sorted({v for v in table.values() if v not in MPCAT40}, key=str)
    if unknown or min(table, default=0) < 0:
        what = f"categories {unknown[:3]} that are not mpcat40 names" if unknown else "negative object ids"
        raise DatasetLayoutError(f"{objects} has {what} (map HM3D's raw names with hm3dsem_category_mappings.tsv)")
    lut = np.full(max(table, default=0) + 1, UNKNOWN, np.int16)
    lut[0] = ignore_index
    for object_id, name in table.items():
        lut[object_id] = ignore_index if name in IGNORED else CLASSES.index(name)
    return CLASSES, lut


def _read_npy(path: Path, kinds: str, what: str) -> np.ndarray:
    """An H x W array of dtype kind in ``kinds`` from ``np.save`` (a trailing channel of 1 dropped)."""
    try:
        array = np.load(path)
    except (OSError, ValueError) as e:
        raise InvalidLabelError(f"cannot read the {what} frame {path}: {e}") from None
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2 or array.dtype.kind not in kinds:
        raise InvalidLabelError(f"{path.name} is a {array.dtype} array of shape {array.shape}; expected the {what} "
                                f"sensor's H x W observation")
    return array


def read_objects(path: Path) -> np.ndarray:
    """The H x W object ids of a semantic frame."""
    return _read_npy(path, "ui", "semantic")


def read_depth(path: Path) -> np.ndarray:
    """The H x W float32 metres of a depth frame."""
    return _read_npy(path, "f", "depth").astype(np.float32)


def load(root: str | Path, split: str = "all") -> FrameDataset:
    """The semantic frames under ``root`` with the categories of ``objects.json``."""
    root, split = Path(root), recording_split(split, "Habitat")
    pairs = pair_frames(root, "semantic", ".npy", "the semantic sensor's object ids (NNNNNN.npy)")
    objects = require_file(root / OBJECTS, "the scene's object id -> mpcat40 category table the recording wrote")
    names, lut = label_table(objects)
    return FrameDataset("habitat", root, split, tuple(SemanticSample(*p) for p in pairs), names, lut, note=NOTE,
                        read_raw=read_objects)


def load_depth(root: str | Path, split: str = "all") -> DepthDataset:
    """The depth pairs under ``root`` (``rgb/`` + ``depth/`` float32 ``.npy`` metres)."""
    root, split = Path(root), recording_split(split, "Habitat")
    pairs = pair_frames(root, "depth", ".npy", "the depth sensor's float32 metres (NNNNNN.npy)")
    return DepthDataset("habitat", root, split, tuple(DepthSample(*p) for p in pairs), read_depth, MAX_DEPTH,
                        DEPTH_NOTE)
