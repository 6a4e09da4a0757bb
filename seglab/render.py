"""Drawing results for people: overlays, legends, depth colour maps, prompt markers.

Drawing lives apart from the data (``results.py``); every function returns a new
H x W x 3 uint8 RGB array and never changes its input.
"""
from __future__ import annotations

import colorsys
from dataclasses import replace
from functools import singledispatch

import cv2
import numpy as np

from .prompts import Prompt
from .results import DepthMap, Masks, PanopticMap, RleMasks, SemanticMap


def palette(n: int, seed: int = 0) -> np.ndarray:
    """n distinct, stable RGB colours (golden-ratio hue steps), uint8 (n, 3)."""
    hues = (seed * 0.137 + np.arange(n) * 0.618033988749895) % 1.0
    sat = 0.65 + 0.3 * ((np.arange(n) // 7) % 2)
    rgb = np.array([colorsys.hsv_to_rgb(h, s, 0.95) for h, s in zip(hues, sat)]).reshape(-1, 3)
    return (rgb * 255).astype(np.uint8)


def hex_color(rgb: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))


def _blend(image: np.ndarray, colour_map: np.ndarray, where: np.ndarray, alpha: float) -> np.ndarray:
    """``image`` with ``colour_map`` mixed in by ``alpha`` where ``where`` is set (only its bounding box is
    computed, by OpenCV's uint8 arithmetic)."""
    out = image.copy()
    rows, cols = np.flatnonzero(where.any(1)), np.flatnonzero(where.any(0))
    if not len(rows):
        return out
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    mixed = cv2.addWeighted(image[box], 1 - alpha, np.ascontiguousarray(colour_map[box]), alpha, 0)
    np.copyto(out[box], mixed, where=where[box][..., None])
    return out


def _contours(out: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, cs, -1, colour, thickness, lineType=cv2.LINE_AA)


def _thickness(image: np.ndarray) -> int:
    return max(1, round(max(image.shape[:2]) / 400))


@singledispatch
def overlay(result: object, image: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The result drawn over the image (depth: the colour map beside nothing, blended)."""
    raise TypeError(f"cannot draw a {type(result).__name__}")


@overlay.register
def _(result: Masks, image: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    colours = palette(len(result))
    out = image.copy()
    # draw largest first so small masks stay visible on top
    for i in np.argsort(-result.areas, kind="stable"):
        m = result.masks[i]
        out = _blend(out, np.broadcast_to(colours[i], image.shape), m, alpha)
    for i in range(len(result)):
        _contours(out, result.masks[i], tuple(int(c) for c in colours[i]), _thickness(image))
    return out


@overlay.register
def _(result: RleMasks, image: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Many masks at once, drawn as a map: each pixel in the colour of the smallest mask over it, blended once,
    with a thin white line where that mask changes (hundreds of overlapping masks stay readable)."""
    index = mask_index(result, image.shape[:2])
    lut = np.vstack([np.zeros((1, 3), np.uint8), palette(len(result))])
    out = _blend(image, lut[index], index > 0, alpha)
    edges = np.zeros(index.shape, bool)
    edges[:-1] |= index[:-1] != index[1:]
    edges[:, :-1] |= index[:, :-1] != index[:, 1:]
    out[edges] = 255
    return out


def mask_index(result: RleMasks, shape: tuple[int, int]) -> np.ndarray:
    """H x W uint16 map at ``shape``: 1 + the index of the smallest mask over each pixel, 0 where there is none.
    Built at the masks' working size (one mask decoded at a time) and brought to ``shape`` once."""
    h, w = result.rle_size
    index = np.zeros((h, w), np.uint16)
    at_work_size = replace(result, image_size=(h, w), boxes=None, areas=None)
    for i in np.argsort(-result.areas, kind="stable"):  # largest first: smaller masks end on top
        index[at_work_size.mask(int(i))] = i + 1
    if (h, w) == tuple(shape):
        return index
    return cv2.resize(index, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def outlines(result: Masks | RleMasks, image: np.ndarray, highlight: tuple[int, ...] = (), tint: float = 0.2
             ) -> np.ndarray:
    """Many masks kept legible (``result`` at ``image``'s size, e.g. the app's display copy): every mask's border
    in its :func:`palette` colour over a light tint of the :func:`mask_index` map. With ``highlight``, those masks
    are filled strongly and outlined in white, the rest of the image is dimmed and the other masks only outlined."""
    colours = palette(len(result))
    t = _thickness(image)
    if highlight:
        out = cv2.addWeighted(image, 0.55, np.zeros_like(image), 0.45, 0)
    elif isinstance(result, RleMasks):
        index = mask_index(result, image.shape[:2])
        lut = np.vstack([np.zeros((1, 3), np.uint8), colours])
        out = _blend(image, lut[index], index > 0, tint)
    else:
        out = image.copy()
        for i in np.argsort(-result.areas, kind="stable"):
            out = _blend(out, np.broadcast_to(colours[i], image.shape), result.masks[i], tint)
    for i in range(len(result)):
        if i not in highlight:
            _contours(out, _mask(result, i), tuple(int(c) for c in colours[i]), t)
    for i in highlight:
        m = _mask(result, i)
        out = _blend(out, np.broadcast_to(colours[i], image.shape), m, 0.65)
        _contours(out, m, (255, 255, 255), t + 1)
    return out


def _mask(result: Masks | RleMasks, i: int) -> np.ndarray:
    return result.mask(i) if isinstance(result, RleMasks) else result.masks[i]


@overlay.register
def _(result: SemanticMap, image: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    colours = palette(max(len(result.class_names), int(result.labels.max(initial=0)) + 1))
    labels = result.labels
    valid = labels != result.ignore_index
    cmap = np.zeros_like(image)
    cmap[valid] = colours[labels[valid]]
    return _blend(image, cmap, valid, alpha)


@overlay.register
def _(result: PanopticMap, image: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    colours = palette(len(result.segments), seed=1)
    lut = np.zeros((int(result.segment_ids.max(initial=0)) + 1, 3), np.uint8)
    for c, s in zip(colours, result.segments):
        lut[s.id] = c
    valid = result.segment_ids > 0
    out = _blend(image, lut[result.segment_ids], valid, alpha)
    for c, s in zip(colours, result.segments):
        if s.isthing:
            _contours(out, result.segment_ids == s.id, (255, 255, 255), _thickness(image))
    return out


@overlay.register
def _(result: DepthMap, image: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    colour = colorize_depth(result)
    return colour if alpha >= 1 else (image * (1 - alpha) + colour * alpha + 0.5).astype(np.uint8)


def colorize_depth(depth: DepthMap) -> np.ndarray:
    """Turbo colour map, near = warm; invalid pixels black. Relative (inverse) depth is already near = large."""
    d = depth.depth.astype(np.float32)
    valid = depth.valid
    if not valid.any():
        return np.zeros((*d.shape, 3), np.uint8)
    near = d if depth.kind == "relative" else -d
    lo, hi = np.percentile(near[valid], (1, 99))
    x = np.clip((near - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = cv2.applyColorMap((x * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    rgb[~valid] = 0
    return np.ascontiguousarray(rgb)


def legend(result: Masks | RleMasks | SemanticMap | PanopticMap) -> list[tuple[str, str]]:
    """(label, hex colour) pairs matching :func:`overlay`'s colours."""
    if isinstance(result, Masks | RleMasks):
        cols = palette(len(result))
        return [(f"{result.label_name(i)} {result.scores[i]:.2f}", hex_color(cols[i])) for i in range(len(result))]
    if isinstance(result, SemanticMap):
        cols = palette(max(len(result.class_names), int(result.labels.max(initial=0)) + 1))
        return [(name, hex_color(cols[cid])) for cid, name, _ in result.present()]
    cols = palette(len(result.segments), seed=1)
    return [(result.class_names.get(s.category_id, str(s.category_id)), hex_color(c))
            for c, s in zip(cols, result.segments)]


def draw_prompt(image: np.ndarray, prompt: Prompt) -> np.ndarray:
    """Points (green = positive, red = negative), boxes and the region outline drawn on the image."""
    out = image.copy()
    t = _thickness(image)
    if prompt.region is not None:
        _contours(out, prompt.region, (255, 200, 0), t)
    if prompt.boxes is not None:
        for x0, y0, x1, y1 in prompt.boxes:
            cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y1)), (40, 120, 255), t + 1, cv2.LINE_AA)
    if prompt.points is not None:
        r = _marker_radius(image)
        for (x, y), lab in zip(prompt.points, prompt.point_labels):
            colour = (40, 220, 60) if lab == 1 else (235, 40, 40)
            cv2.circle(out, (int(round(x)), int(round(y))), r, colour, -1, cv2.LINE_AA)
            cv2.circle(out, (int(round(x)), int(round(y))), r, (255, 255, 255), max(1, t // 2 + 1), cv2.LINE_AA)
    return out


def _marker_radius(image: np.ndarray) -> int:
    return max(4, 3 * _thickness(image))


def label_scores(image: np.ndarray, masks: Masks, avoid: Prompt | None = None) -> np.ndarray:
    """Each mask's score, white on black, on the mask's most interior pixel whose label would cover no
    point marker of ``avoid`` (anywhere in the mask when every such pixel would)."""
    out = image.copy()
    scale = max(0.5, max(image.shape[:2]) / 1200)
    thickness = max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize("0.00", cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    blocked = np.zeros(image.shape[:2], bool)
    if avoid is not None and avoid.points is not None:  # centres whose label box would touch a marker
        ry, rx = _marker_radius(image) + h // 2 + base + 2, _marker_radius(image) + w // 2 + 4
        for x, y in np.round(avoid.points).astype(int):
            blocked[max(0, y - ry):y + ry + 1, max(0, x - rx):x + rx + 1] = True
    for mask, score in zip(masks.masks, masks.scores):
        free = mask & ~blocked
        where = free if free.any() else mask
        if not where.any():
            continue
        depth = cv2.distanceTransform(np.pad(where, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
        cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
        x, y = int(cx) - w // 2, int(cy) + h // 2
        cv2.rectangle(out, (x - 2, y - h - 2), (x + w + 2, y + base), (0, 0, 0), cv2.FILLED)
        cv2.putText(out, f"{score:.2f}", (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness,
                    cv2.LINE_AA)
    return out


def annotate(result: Masks | RleMasks | SemanticMap | PanopticMap | DepthMap, image: np.ndarray,
             prompt: Prompt | None = None, max_labels: int = 12) -> np.ndarray:
    """What the app and the CLI show: the result over the image, each mask's score (up to ``max_labels``
    masks) where no marker is, and the prompt's points, boxes and region on top."""
    out = overlay(result, image)
    if isinstance(result, Masks | RleMasks) and 0 < len(result) <= max_labels:
        out = label_scores(out, result, avoid=prompt)
    return draw_prompt(out, prompt) if prompt is not None else out


def depth_colorbar(depth: DepthMap, height: int, width: int = 90, ticks: int = 5) -> np.ndarray:
    """A vertical colour bar (near at the top) labelled in the depth's units, matching :func:`colorize_depth`."""
    bar = np.full((height, width, 3), 255, np.uint8)
    valid = depth.valid
    if not valid.any():
        return bar
    d = depth.depth.astype(np.float32)
    near = d if depth.kind == "relative" else -d
    lo, hi = np.percentile(near[valid], (1, 99))
    ramp = np.linspace(255, 0, height).astype(np.uint8)[:, None].repeat(width // 3, 1)
    bar[:, : width // 3] = cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO)[..., ::-1]
    unit = " m" if depth.kind == "metric" else ""
    scale = max(0.35, height / 1400)
    for i in range(ticks):
        f = i / (ticks - 1)  # 0 = top = nearest
        y = int(round(f * (height - 1)))
        value = lo + (1 - f) * (hi - lo)
        value = value if depth.kind == "relative" else -value
        cv2.line(bar, (width // 3, y), (width // 3 + 5, y), (0, 0, 0), 1)
        ty = min(max(y + int(5 * scale * 2), int(12 * scale * 2)), height - 3)
        cv2.putText(bar, f"{value:.2f}{unit}", (width // 3 + 8, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return bar


def depth_with_colorbar(depth: DepthMap) -> np.ndarray:
    """:func:`colorize_depth` with its :func:`depth_colorbar` on the right."""
    colour = colorize_depth(depth)
    return np.hstack([colour, depth_colorbar(depth, colour.shape[0])])
