"""Writing results in the formats people exchange: COCO RLE / polygons JSON, mask PNGs,
COCO panoptic PNG + JSON, 16-bit depth PNG, PLY point clouds, and an overlay PNG."""
from __future__ import annotations

import json
from collections.abc import Callable
from functools import singledispatch
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .render import colorize_depth, overlay
from .results import DepthMap, Masks, PanopticMap, RleMasks, SemanticMap


def mask_to_polygons(mask: np.ndarray, min_points: int = 3) -> list[list[float]]:
    """COCO polygons [x0, y0, x1, y1, ...] of a mask's outer contours (holes are not represented); traced
    within the mask's bounding box (a small mask of a 12-MP photo: about 1 ms instead of 20)."""
    rows = np.flatnonzero(mask.any(1))
    if not len(rows):
        return []
    band = mask[rows[0]:rows[-1] + 1]
    cols = np.flatnonzero(band.any(0))
    crop = band[:, cols[0]:cols[-1] + 1].astype(np.uint8)
    contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                   offset=(int(cols[0]), int(rows[0])))
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= min_points]


def write_ply(path: Path, points: np.ndarray, colours: np.ndarray | None = None) -> Path:
    """Binary little-endian PLY of (N, 3) float points with optional (N, 3) uint8 colours."""
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colours is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    data = np.empty(len(points), dtype=fields)
    data["x"], data["y"], data["z"] = points.T
    if colours is not None:
        data["red"], data["green"], data["blue"] = colours.T
    props = "".join(f"property {'float' if t == '<f4' else 'uchar'} {n}\n" for n, t in fields)
    header = f"ply\nformat binary_little_endian 1.0\nelement vertex {len(points)}\n{props}end_header\n"
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(data.tobytes())
    return path


def _save_png(path: Path, array: np.ndarray) -> Path:
    """zlib level 1: a 12-MP overlay in 0.65 s instead of 3.1 s at Pillow's default 6, 23 % larger."""
    Image.fromarray(array).save(path, compress_level=1)
    return path


def _save_json(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj, indent=1))
    return path


def write_result(result: Masks | RleMasks | SemanticMap | PanopticMap | DepthMap, out_dir: str | Path,
                 image: np.ndarray | None = None, stem: str = "result", image_id: int = 0) -> list[Path]:
    """Write every exchange format of ``result`` into ``out_dir``; returns the paths written.

    With ``image`` an overlay PNG is written too.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = _write(result, out, stem, image_id)
    if image is not None:
        paths.append(_save_png(out / f"{stem}_overlay.png", overlay(result, image)))
        if isinstance(result, DepthMap) and result.kind == "metric":
            paths.append(write_ply(out / f"{stem}_points.ply", *result.to_points(image, stride=2)))
    return paths


@singledispatch
def _write(result: object, out: Path, stem: str, image_id: int) -> list[Path]:
    raise TypeError(f"cannot write a {type(result).__name__}")


@_write.register
def _(result: Masks, out: Path, stem: str, image_id: int) -> list[Path]:
    ranked = result.sorted("score")
    return _write_masks(ranked, lambda i: ranked.masks[i], out, stem, image_id)


@_write.register
def _(result: RleMasks, out: Path, stem: str, image_id: int) -> list[Path]:
    ranked = result.sorted("score")
    return _write_masks(ranked, ranked.mask, out, stem, image_id)


def _write_masks(ranked: Masks | RleMasks, mask: Callable[[int], np.ndarray], out: Path, stem: str,
                 image_id: int) -> list[Path]:
    """JSON (RLE + polygons), the best mask's PNG and an index map of masks sorted best first; ``mask(i)``
    gives one H x W mask at a time (an RLE result is never decoded whole)."""
    entries = ranked.to_coco(image_id)
    h, w = ranked.image_size
    index = np.zeros((h, w), np.uint16)  # 1 + rank of the best-scoring mask covering the pixel, 0 = none
    for i in range(len(ranked) - 1, -1, -1):
        m = mask(i)
        if ranked.labels is not None:
            entries[i]["label"] = ranked.class_names.get(entries[i]["category_id"], str(entries[i]["category_id"]))
        entries[i]["polygons"] = mask_to_polygons(m)
        index[m] = i + 1
    paths = [_save_json(out / f"{stem}.json", {"image_size": [h, w], "note": ranked.note, "masks": entries})]
    best = (index == 1) if len(ranked) else np.zeros((h, w), bool)  # mask 0 is drawn last: whole in the map
    paths.append(_save_png(out / f"{stem}_mask.png", best.astype(np.uint8) * 255))
    if len(ranked) > 1:
        paths.append(_save_png(out / f"{stem}_masks.png", index if len(ranked) > 255 else index.astype(np.uint8)))
    return paths


@_write.register
def _(result: SemanticMap, out: Path, stem: str, image_id: int) -> list[Path]:
    classes = [{"id": i, "name": n, "pixels": c} for i, n, c in result.present()]
    return [_save_png(out / f"{stem}_labels.png", result.to_png_array()),
            _save_json(out / f"{stem}_classes.json",
                       {"class_names": list(result.class_names.values()), "ignore_index": result.ignore_index,
                        "present": classes})]


@_write.register
def _(result: PanopticMap, out: Path, stem: str, image_id: int) -> list[Path]:
    png_name = f"{stem}_panoptic.png"
    rgb, ann = result.to_coco_panoptic(image_id, png_name)
    cats = sorted({(s.category_id, s.isthing) for s in result.segments})
    categories = [{"id": c, "name": result.class_names.get(c, str(c)), "isthing": int(t)} for c, t in cats]
    return [_save_png(out / png_name, rgb),
            _save_json(out / f"{stem}_panoptic.json", {"annotations": [ann], "categories": categories})]


@_write.register
def _(result: DepthMap, out: Path, stem: str, image_id: int) -> list[Path]:
    np.save(out / f"{stem}_depth.npy", result.depth)
    paths = [out / f"{stem}_depth.npy", _save_png(out / f"{stem}_depth_color.png", colorize_depth(result))]
    info = {"kind": result.kind, "focal_length_px": result.focal_length_px, "range": result.range()}
    if result.kind == "metric":
        paths.append(_save_png(out / f"{stem}_depth16.png", result.to_png16()))
        info["png16_unit"] = "millimetres"
    paths.append(_save_json(out / f"{stem}_depth.json", info))
    return paths
