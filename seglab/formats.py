"""Reading and writing the COCO exchange formats, with consistency checks.

- instances: ground truth ``instances_*.json`` (pycocotools ``COCO``) and results JSON (RLE masks);
- panoptic: ``panoptic_*.json`` with its PNG folder beside it (same stem, as the official layout),
  ids encoded as ``R + 256 G + 256^2 B``;
- semantic: a folder of label PNGs (one class id per pixel, 255 = ignore);
- depth: 16-bit PNGs in 1/scale metres (NYU and KITTI store millimetres; 0 = invalid).

Every problem raises :class:`FormatError` naming the file and what is wrong with it.
"""
from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import SeglabError
from .results import SemanticMap, rgb_to_id

if TYPE_CHECKING:
    from numpy.typing import DTypeLike
    from pycocotools.coco import COCO

PathLike = str | Path


class FormatError(SeglabError, ValueError):
    """A ground-truth or prediction file is missing, malformed or inconsistent with its partner."""


def read_json(path: PathLike, what: str = "JSON file") -> Any:
    """Parsed JSON, or a :class:`FormatError` saying the file is missing or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{what} {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FormatError(f"{what} {path} is not valid JSON ({err})") from None


def write_json(path: PathLike, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return path


# ----------------------------------------------------------------------------- instances

def load_coco_gt(gt: PathLike | dict | COCO) -> COCO:
    """pycocotools ``COCO`` from a path, a parsed dataset dict or a ``COCO`` (index built quietly)."""
    from pycocotools.coco import COCO  # imported here: it pulls in urllib, which PQ and mIoU never need

    if isinstance(gt, COCO):
        return gt
    name = str(gt) if not isinstance(gt, dict) else "ground truth"
    data = gt if isinstance(gt, dict) else read_json(gt, "ground-truth file")
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if not isinstance(data, dict) or missing:
        raise FormatError(f"{name} is not a COCO instances file (missing {', '.join(missing) or 'a top-level object'})")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def load_coco_results(pred: PathLike | list[dict], gt: COCO, check_categories: bool = True) -> list[dict]:
    """COCO results entries checked against ``gt``: known image ids, category ids and mask sizes.

    Returns shallow copies, so pycocotools' ``loadRes`` (which adds fields) never edits the caller's dicts.
    """
    name = "predictions" if isinstance(pred, list) else str(pred)
    entries = pred if isinstance(pred, list) else read_json(pred, "predictions file")
    if not isinstance(entries, list):
        raise FormatError(f"{name} must hold a list of results (image_id, category_id, segmentation, score)")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not {"image_id", "segmentation", "score"} <= e.keys():
            raise FormatError(f"{name}: result {i} needs image_id, category_id, segmentation and score")
        img = gt.imgs.get(e["image_id"])
        if img is None:
            raise FormatError(f"{name}: result {i} has image id {e['image_id']}, which is not in the ground truth")
        if check_categories and e.get("category_id") not in gt.cats:
            raise FormatError(f"{name}: result {i} has unknown category id {e.get('category_id')}")
        seg = e["segmentation"]
        if not isinstance(seg, dict) or "counts" not in seg or "size" not in seg:
            raise FormatError(f"{name}: result {i} segmentation must be an RLE dict with size and counts")
        if list(seg["size"]) != [img["height"], img["width"]]:
            raise FormatError(f"{name}: result {i} mask is {seg['size'][0]}x{seg['size'][1]} but image "
                              f"{e['image_id']} is {img['height']}x{img['width']}")
        out.append(dict(e))
    return out


# ----------------------------------------------------------------------------- panoptic

def _open_png(path: Path, what: str) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise FormatError(f"{what} {path} is missing or unreadable ({err.__class__.__name__})") from None


class Scratch:
    """Image-sized arrays reused from one image to the next by one thread.

    A fresh array of a megabyte or more per image costs page faults (glibc hands such blocks back to
    the kernel when they are freed); keeping one per name avoids that. Not thread-safe: one per thread.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: DTypeLike = np.uint8) -> np.ndarray:
        """The array ``name`` (contents undefined), reallocated only when its shape or dtype change."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype)
        return array


def read_panoptic_png(path: PathLike, size: tuple[int, int] | None = None, scratch: Scratch | None = None,
                      name: str = "ids") -> np.ndarray:
    """H x W uint32 segment ids of one panoptic PNG; ``size`` (H, W) is checked when given.

    Decoded with OpenCV, which is faster than Pillow and releases the GIL, so threads decode in parallel.
    With ``scratch``, the ids are written into (and viewed from) its array ``name``, valid until the next
    call with that name; scorers pass one per thread instead of allocating about 1 MB per image.
    """
    path = Path(path)
    png = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if png is None:
        raise FormatError(f"panoptic PNG {path} is missing or unreadable")
    if png.ndim != 3 or png.shape[2] != 3 or png.dtype != np.uint8:
        kind = "single-channel" if png.ndim == 2 else f"{png.shape[2]}-channel {png.dtype}"
        raise FormatError(f"panoptic PNG {path} is {kind}; ids are stored as 8-bit RGB")
    ids = rgb_to_id(png, bgr=True, out=scratch.get(name, png.shape[:2] + (4,)) if scratch is not None else None)
    if size is not None and ids.shape != tuple(size):
        raise FormatError(f"panoptic PNG {path} is {ids.shape[0]}x{ids.shape[1]} but its image is "
                          f"{size[0]}x{size[1]}")
    return ids


def read_coco_panoptic(json_path: PathLike, folder: PathLike | None = None) -> tuple[dict, Path]:
    """(parsed panoptic JSON, PNG folder): the folder defaults to the JSON's stem beside it.

    Checks the structure: annotations with image_id / file_name / segments_info, unique non-zero
    segment ids, and categories (when the file has them) with id and isthing.
    """
    json_path = Path(json_path)
    data = read_json(json_path, "panoptic JSON")
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise FormatError(f"{json_path} is not a COCO panoptic file (no 'annotations' list)")
    folder = Path(folder) if folder is not None else json_path.with_suffix("")
    if not folder.is_dir():
        raise FormatError(f"PNG folder {folder} for {json_path} does not exist")
    seen = set()
    for ann in data["annotations"]:
        if not {"image_id", "file_name", "segments_info"} <= ann.keys():
            raise FormatError(f"{json_path}: an annotation lacks image_id, file_name or segments_info")
        if ann["image_id"] in seen:
            raise FormatError(f"{json_path}: image id {ann['image_id']} has two annotations")
        seen.add(ann["image_id"])
        ids = [s.get("id") for s in ann["segments_info"]]
        if any(not isinstance(i, int) or i <= 0 for i in ids) or len(set(ids)) != len(ids):
            raise FormatError(f"{json_path}: image {ann['image_id']} has missing, repeated or zero segment ids "
                              "(0 is VOID)")
        if any("category_id" not in s for s in ann["segments_info"]):
            raise FormatError(f"{json_path}: image {ann['image_id']} has a segment without category_id")
    for c in data.get("categories", []):
        if "id" not in c or "isthing" not in c:
            raise FormatError(f"{json_path}: every category needs id and isthing")
    return data, folder


def image_sizes(data: dict) -> dict[int, tuple[int, int]]:
    """image id -> (H, W) from a COCO file's ``images`` list (empty when absent)."""
    return {im["id"]: (im["height"], im["width"]) for im in data.get("images", []) if "height" in im}


def iter_panoptic_pairs(gt: dict, gt_folder: Path, pred: dict, pred_folder: Path,
                        pred_name: str = "predictions") -> Iterator[tuple[dict, Path, dict, Path]]:
    """(gt annotation, gt PNG path, pred annotation, pred PNG path) for every ground-truth image.

    A ground-truth image without a prediction is an error, as in panopticapi; extra predictions are ignored.
    """
    by_image = {a["image_id"]: a for a in pred["annotations"]}
    for g in gt["annotations"]:
        p = by_image.get(g["image_id"])
        if p is None:
            raise FormatError(f"{pred_name} has no annotation for ground-truth image id {g['image_id']}")
        yield g, gt_folder / g["file_name"], p, pred_folder / p["file_name"]


# ----------------------------------------------------------------------------- semantic and depth

def _single_channel(path: Path, what: str) -> np.ndarray:
    img = _open_png(path, what)
    if img.mode not in ("L", "P", "I", "I;16"):
        raise FormatError(f"{what} {path} is {img.mode}; it needs one channel (8 or 16 bit)")
    return np.asarray(img)


def read_label_png(path: PathLike) -> np.ndarray:
    """H x W int32 class ids of a single-channel label PNG (8 or 16 bit, palette indices as ids)."""
    return _single_channel(Path(path), "label PNG").astype(np.int32)


def write_label_png(path: PathLike, labels: SemanticMap | np.ndarray) -> Path:
    """Single-channel PNG of class ids (uint8 when ids fit, else uint16)."""
    a = labels.to_png_array() if isinstance(labels, SemanticMap) else np.asarray(labels)
    if a.dtype not in (np.uint8, np.uint16):
        a = a.astype(np.uint8 if a.max(initial=0) <= 255 else np.uint16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


def read_depth_png(path: PathLike, scale: float = 1000.0) -> np.ndarray:
    """H x W float32 metres from a 16-bit depth PNG stored in 1/scale metres; 0 stays 0 (invalid)."""
    return _single_channel(Path(path), "depth PNG").astype(np.float32) / np.float32(scale)


def pair_folders(gt_folder: PathLike, pred_folder: PathLike, pattern: str = "*.png") -> list[tuple[str, Path, Path]]:
    """(stem, gt file, prediction file) for every ground-truth file; a missing prediction is an error."""
    gt_folder, pred_folder = Path(gt_folder), Path(pred_folder)
    for f in (gt_folder, pred_folder):
        if not f.is_dir():
            raise FormatError(f"folder {f} does not exist")
    gts = sorted(gt_folder.glob(pattern))
    if not gts:
        raise FormatError(f"no {pattern} files in ground-truth folder {gt_folder}")
    pairs = []
    for g in gts:
        p = pred_folder / g.name
        if not p.is_file():
            raise FormatError(f"prediction folder {pred_folder} has no {g.name} for ground truth {g}")
        pairs.append((g.stem, g, p))
    return pairs
