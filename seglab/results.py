"""Typed results: one frozen dataclass per output kind, shared by models, metrics,
rendering, the app and the benchmark.

Coordinates are always those of the original image (H x W); conversions to the
formats people exchange (COCO RLE, COCO panoptic PNG + JSON, 16-bit depth PNG)
live here so that every caller writes them the same way.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import cv2
import numpy as np
from pycocotools import mask as mask_utils


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def encode_rle(mask: np.ndarray, text: bool = True) -> dict[str, Any]:
    """COCO RLE of one H x W mask, with ``counts`` as str so it is JSON-ready (bytes, pycocotools' own, when
    not ``text``)."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    if text:
        rle["counts"] = rle["counts"].decode("ascii")
    return rle


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """H x W bool mask from a COCO RLE (compressed, str or bytes counts, or uncompressed)."""
    if isinstance(rle.get("counts"), list):
        h, w = rle["size"]
        rle = mask_utils.frPyObjects(rle, h, w)
    elif isinstance(rle.get("counts"), str):
        rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    return mask_utils.decode(rle).astype(bool)


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 COCO panoptic PNG array of segment ids: ``id = R + 256 G + 256^2 B``."""
    ids = np.asarray(ids).astype(np.uint32)
    return np.stack([ids & 255, ids >> 8 & 255, ids >> 16 & 255], -1).astype(np.uint8)


def rgb_to_id(png: np.ndarray, bgr: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """H x W uint32 segment ids of a COCO panoptic PNG array (inverse of :func:`id_to_rgb`).

    ``bgr``: the channels are in OpenCV's order (``cv2.imread``). The pixels are widened to RGBA (into
    ``out``, an H x W x 4 uint8 buffer, when given) and read as little-endian 32-bit words without A:
    one pass, faster than the arithmetic.
    """
    code = cv2.COLOR_BGR2RGBA if bgr else cv2.COLOR_RGB2RGBA
    rgba = cv2.cvtColor(np.ascontiguousarray(png, np.uint8), code, dst=out)
    ids = rgba.view("<u4")[..., 0]
    return np.bitwise_and(ids, np.uint32(0xFFFFFF), out=ids)


@dataclass(frozen=True)
class Masks:
    """N binary masks with scores: what promptable and instance models return.

    ``labels`` are category ids (keys of ``class_names``); ``boxes`` are xyxy pixels;
    ``logits`` are the model's low-resolution mask logits (SAM's 256 x 256), kept so
    a refinement click can feed them back. ``note`` explains an empty result.
    """

    masks: np.ndarray  # (N, H, W) bool
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray | None = None  # (N,) int64 category ids
    boxes: np.ndarray | None = None  # (N, 4) float32 xyxy
    logits: np.ndarray | None = None  # (N, h, w) float32
    class_names: dict[int, str] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        masks = np.asarray(self.masks)
        if masks.ndim != 3:
            raise ValueError(f"masks must be N x H x W, got shape {masks.shape}")
        n = masks.shape[0]
        object.__setattr__(self, "masks", _readonly(masks.astype(bool, copy=False)))
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if scores.shape[0] != n:
            raise ValueError(f"{n} masks but {scores.shape[0]} scores")
        object.__setattr__(self, "scores", _readonly(scores))
        if self.labels is not None:
            labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
            if labels.shape[0] != n:
                raise ValueError(f"{n} masks but {labels.shape[0]} labels")
            object.__setattr__(self, "labels", _readonly(labels))
        boxes = self.boxes if self.boxes is not None else masks_to_boxes(masks)
        boxes = np.asarray(boxes, dtype=np.float32).reshape(n, 4)
        object.__setattr__(self, "boxes", _readonly(boxes))
        if self.logits is not None:
            object.__setattr__(self, "logits", _readonly(np.asarray(self.logits, dtype=np.float32)))

    @classmethod
    def empty(cls, height: int, width: int, note: str = "", **kw: Any) -> Masks:
        return cls(np.zeros((0, height, width), bool), np.zeros(0, np.float32), note=note, **kw)

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the image the masks belong to."""
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    @property
    def areas(self) -> np.ndarray:
        return self.masks.sum(axis=(1, 2))

    def label_name(self, i: int) -> str:
        if self.labels is None:
            return f"mask {i}"
        return self.class_names.get(int(self.labels[i]), str(int(self.labels[i])))

    def select(self, index: np.ndarray | list[int] | slice) -> Masks:
        """A subset (by index array, bool array or slice), keeping every field aligned."""
        idx = np.arange(len(self))[index]
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return replace(
            self, masks=self.masks[idx], scores=self.scores[idx], labels=pick(self.labels),
            boxes=self.boxes[idx], logits=pick(self.logits),
        )

    def sorted(self, by: Literal["score", "area"] = "score") -> Masks:
        """Best first: highest score, or largest area."""
        key = self.scores if by == "score" else self.areas
        return self.select(np.argsort(-key, kind="stable"))

    def to_coco(self, image_id: int = 0, category_id: int = 1) -> list[dict[str, Any]]:
        """COCO results JSON entries (RLE segmentation, xywh bbox, score), best first."""
        out = []
        for i in np.argsort(-self.scores, kind="stable"):
            x0, y0, x1, y1 = (float(v) for v in self.boxes[i])
            out.append({
                "image_id": int(image_id),
                "category_id": int(self.labels[i]) if self.labels is not None else category_id,
                "segmentation": encode_rle(self.masks[i]),
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": int(self.masks[i].sum()),
                "score": float(self.scores[i]),
            })
        return out


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy boxes (exclusive right/bottom edge, as COCO's bbox) of N masks; zeros for empty masks."""
    n = masks.shape[0]
    boxes = np.zeros((n, 4), np.float32)
    rows, cols = masks.any(2), masks.any(1)
    for i in range(n):
        ys, xs = np.flatnonzero(rows[i]), np.flatnonzero(cols[i])
        if len(ys):
            boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes



@dataclass(frozen=True)
class RleMasks:
    """N binary masks kept as COCO RLE, with scores: what segment everything returns, a few kilobytes a mask
    where :class:`Masks` holds H x W bytes (141 masks of a 12-megapixel photo: 1.7 GB as bool).

    The RLEs may be at a model's working resolution (``rle_size``, smaller than ``image_size``): a mask is then
    that grid brought to the image's size by nearest-neighbour indexing (image row ``i`` is working row
    ``i * h // H``), and ``areas``, ``boxes`` and :meth:`to_coco` are exact for it. It reads like :class:`Masks`
    (``len``, ``scores``, ``boxes``, ``areas``, ``image_size``, ``select``, ``sorted``, ``to_coco``);
    ``mask(i)`` decodes one mask at the image's size, ``masks`` all of them (N x H x W bytes).
    """

    rles: tuple[dict[str, Any], ...]  # pycocotools RLE: {"size": [h, w], "counts": bytes}
    scores: np.ndarray  # (N,) float32
    image_size: tuple[int, int]  # (H, W)
    note: str = ""
    boxes: np.ndarray | None = None  # (N, 4) float32 xyxy in image pixels, exclusive right/bottom as Masks'
    areas: np.ndarray | None = None  # (N,) int64 pixels at the image's size
    class_names: dict[int, str] = field(default_factory=dict)
    labels = None  # no category ids (read as Masks' are)

    def __post_init__(self) -> None:
        rles = tuple(self.rles)
        object.__setattr__(self, "rles", rles)
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        sizes = {tuple(r["size"]) for r in rles}
        if len(sizes) > 1:
            raise ValueError(f"RLEs of several sizes {sorted(sizes)}; one result has one working size")
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if scores.shape[0] != len(rles):
            raise ValueError(f"{len(rles)} masks but {scores.shape[0]} scores")
        object.__setattr__(self, "scores", _readonly(scores))
        boxes = self.boxes if self.boxes is not None else self._boxes()
        object.__setattr__(self, "boxes", _readonly(np.asarray(boxes, np.float32).reshape(len(rles), 4)))
        areas = self.areas if self.areas is not None else self._areas()
        object.__setattr__(self, "areas", _readonly(np.asarray(areas, np.int64).reshape(len(rles))))

    @classmethod
    def encode(cls, masks: Masks | np.ndarray, scores: np.ndarray | None = None, note: str = "",
               image_size: tuple[int, int] | None = None) -> RleMasks:
        """The compact form of :class:`Masks` (or of an N x H x W bool array with ``scores``); ``image_size``
        when the masks are at a working resolution below the image's."""
        if isinstance(masks, Masks):
            masks, scores, note = masks.masks, masks.scores, note or masks.note
        masks = np.asarray(masks, bool)
        return cls(tuple(encode_rle(m, text=False) for m in masks), scores, image_size or masks.shape[1:], note)

    def __len__(self) -> int:
        return len(self.rles)

    @property
    def rle_size(self) -> tuple[int, int]:
        """(h, w) of the RLEs: the image's size, or the model's working resolution."""
        return tuple(self.rles[0]["size"]) if self.rles else self.image_size

    @property
    def nbytes(self) -> int:
        """Bytes held by the RLE strings and the per-mask numbers."""
        return sum(len(r["counts"]) for r in self.rles) + self.scores.nbytes + self.boxes.nbytes + self.areas.nbytes

    def mask(self, i: int) -> np.ndarray:
        """Mask ``i`` at the image's size, H x W bool."""
        m = mask_utils.decode(self.rles[i]).astype(bool)
        if m.shape == self.image_size:
            return m
        rows, cols = (_nearest(s, t) for s, t in zip(m.shape, self.image_size))
        return m[rows][:, cols]

    @property
    def masks(self) -> np.ndarray:
        """Every mask decoded, N x H x W bool (N x H x W bytes: for small images and few masks)."""
        if not self.rles:
            return np.zeros((0, *self.image_size), bool)
        return np.stack([self.mask(i) for i in range(len(self))])

    def label_name(self, i: int) -> str:
        return f"mask {i}"

    def select(self, index: np.ndarray | list[int] | slice) -> RleMasks:
        """A subset (by index array, bool array or slice), keeping every field aligned."""
        idx = np.arange(len(self))[index]
        return replace(self, rles=tuple(self.rles[i] for i in idx), scores=self.scores[idx], boxes=self.boxes[idx],
                       areas=self.areas[idx])

    def sorted(self, by: Literal["score", "area"] = "score") -> RleMasks:
        """Best first: highest score, or largest area."""
        key = self.scores if by == "score" else self.areas
        return self.select(np.argsort(-key, kind="stable"))

    def resized(self, shape: tuple[int, int]) -> RleMasks:
        """The masks at another (display) size, as RLE of that size (nothing to do at the working size)."""
        shape = tuple(shape)
        if shape == self.rle_size:
            return replace(self, image_size=shape, boxes=None, areas=None)
        h, w = shape
        small = [cv2.resize(mask_utils.decode(r), (w, h), interpolation=cv2.INTER_LINEAR) > 0 for r in self.rles]
        return replace(self, rles=tuple(encode_rle(m, text=False) for m in small), image_size=shape, boxes=None,
                       areas=None)

    def full_rle(self, i: int) -> dict[str, Any]:
        """Mask ``i``'s RLE at the image's size, ``counts`` as str (JSON-ready)."""
        rle = self.rles[i] if self.rle_size == self.image_size else mask_utils.encode(
            np.asfortranarray(self.mask(i), dtype=np.uint8))
        return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}

    def to_coco(self, image_id: int = 0, category_id: int = 1) -> list[dict[str, Any]]:
        """COCO results JSON entries (RLE segmentation, xywh bbox, score), best first, as :meth:`Masks.to_coco`."""
        out = []
        for i in np.argsort(-self.scores, kind="stable"):
            x0, y0, x1, y1 = (float(v) for v in self.boxes[i])
            out.append({"image_id": int(image_id), "category_id": category_id, "segmentation": self.full_rle(i),
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": int(self.areas[i]),
                        "score": float(self.scores[i])})
        return out

    def _boxes(self) -> np.ndarray:
        if not self.rles:
            return np.zeros((0, 4), np.float32)
        x, y, bw, bh = mask_utils.toBbox(list(self.rles)).reshape(-1, 4).T.astype(np.int64)
        (h, w), (big_h, big_w) = self.rle_size, self.image_size
        up = lambda v, s, t: -(-v * t // s)  # noqa: E731  first image index whose working index is >= v
        return np.stack([up(x, w, big_w), up(y, h, big_h), up(x + bw, w, big_w), up(y + bh, h, big_h)], 1)

    def _areas(self) -> np.ndarray:
        if not self.rles:
            return np.zeros(0, np.int64)
        if self.rle_size == self.image_size:  # one at a time: pycocotools 2.0.11's area() of 256+ RLEs overflows
            return np.array([mask_utils.area(r) for r in self.rles], np.int64)
        rows, cols = (np.bincount(_nearest(s, t), minlength=s) for s, t in zip(self.rle_size, self.image_size))
        return np.array([rows @ mask_utils.decode(r).astype(np.int64) @ cols for r in self.rles], np.int64)


def _nearest(small: int, size: int) -> np.ndarray:
    """For each of ``size`` image rows (or columns), the row of a ``small``-row grid it takes (nearest)."""
    return np.arange(size, dtype=np.int64) * small // size


@dataclass(frozen=True)
class SemanticMap:
    """One class id per pixel. ``class_names[i]`` names id ``i`` (given as a list of names or an id -> name dict,
    kept as a dict like every result's); ``ignore_index`` marks unlabeled pixels."""

    labels: np.ndarray  # (H, W) int32
    class_names: dict[int, str]
    probabilities: np.ndarray | None = None  # (C, H, W) float32
    ignore_index: int = 255

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim != 2:
            raise ValueError(f"labels must be H x W, got shape {labels.shape}")
        object.__setattr__(self, "labels", _readonly(labels.astype(np.int32, copy=False)))
        names = self.class_names
        object.__setattr__(self, "class_names", dict(names) if isinstance(names, Mapping) else dict(enumerate(names)))
        if self.probabilities is not None:
            object.__setattr__(self, "probabilities", _readonly(np.asarray(self.probabilities, np.float32)))

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.labels.shape[0]), int(self.labels.shape[1])

    def present(self) -> list[tuple[int, str, int]]:
        """(class id, name, pixel count) of the classes present, largest first."""
        ids, counts = np.unique(self.labels, return_counts=True)
        rows = [(int(i), self.name(int(i)), int(c)) for i, c in zip(ids, counts) if i != self.ignore_index]
        return sorted(rows, key=lambda r: -r[2])

    def name(self, class_id: int) -> str:
        return self.class_names.get(class_id, str(class_id))

    def to_png_array(self) -> np.ndarray:
        """uint8 label image when ids fit (255 = ignore), else uint16."""
        if len(self.class_names) <= 255:
            return self.labels.astype(np.uint8)
        return self.labels.astype(np.uint16)


@dataclass(frozen=True)
class Segment:
    """One panoptic segment, in COCO panoptic terms."""

    id: int
    category_id: int
    isthing: bool
    score: float = 1.0
    iscrowd: bool = False

    def to_json(self, area: int, bbox: list[int]) -> dict[str, Any]:
        return {"id": self.id, "category_id": self.category_id, "iscrowd": int(self.iscrowd),
                "isthing": int(self.isthing), "score": float(self.score), "area": area, "bbox": bbox}


@dataclass(frozen=True)
class PanopticMap:
    """Segment id per pixel (0 = void) with one :class:`Segment` per id."""

    segment_ids: np.ndarray  # (H, W) int32
    segments: tuple[Segment, ...]
    class_names: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = np.asarray(self.segment_ids)
        if ids.ndim != 2:
            raise ValueError(f"segment_ids must be H x W, got shape {ids.shape}")
        object.__setattr__(self, "segment_ids", _readonly(ids.astype(np.int32, copy=False)))
        object.__setattr__(self, "segments", tuple(self.segments))
        known = {s.id for s in self.segments}
        if len(known) != len(self.segments) or 0 in known:
            raise ValueError("segment ids must be unique and non-zero (0 is void)")

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.segment_ids.shape[0]), int(self.segment_ids.shape[1])

    def to_coco_panoptic(self, image_id: int | str, file_name: str) -> tuple[np.ndarray, dict[str, Any]]:
        """(H x W x 3 uint8 PNG array with id = R + 256 G + 256^2 B, annotation dict).

        ``image_id``: COCO's are numbers; Cityscapes' panoptic ground truth uses the file stems.
        """
        rgb = id_to_rgb(self.segment_ids)
        info = []
        for s in self.segments:
            m = self.segment_ids == s.id
            area = int(m.sum())
            if area == 0:
                continue
            x0, y0, x1, y1 = masks_to_boxes(m[None])[0]
            info.append(s.to_json(area, [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]))
        image_id = image_id if isinstance(image_id, str) else int(image_id)
        return rgb, {"image_id": image_id, "file_name": file_name, "segments_info": info}

    @classmethod
    def from_coco_panoptic(cls, png: np.ndarray, segments_info: list[dict[str, Any]],
                           categories: dict[int, dict[str, Any]] | None = None) -> PanopticMap:
        """From a COCO panoptic PNG array and its ``segments_info`` (``categories`` gives isthing/name)."""
        ids = rgb_to_id(png)
        categories = categories or {}
        segs = []
        for s in segments_info:
            cat = categories.get(s["category_id"], {})
            segs.append(Segment(int(s["id"]), int(s["category_id"]),
                                bool(s.get("isthing", cat.get("isthing", 1))),
                                float(s.get("score", 1.0)), bool(s.get("iscrowd", 0))))
        names = {cid: c["name"] for cid, c in categories.items() if "name" in c}
        return cls(ids.astype(np.int32), tuple(segs), names)

    def to_semantic(self, class_names: Sequence[str] | Mapping[int, str], category_to_class: dict[int, int],
                    ignore_index: int = 255) -> SemanticMap:
        """Semantic map: each segment's pixels get ``category_to_class[category_id]``; void is ignored."""
        lut = np.full(int(self.segment_ids.max(initial=0)) + 1, ignore_index, np.int32)
        for s in self.segments:
            lut[s.id] = category_to_class.get(s.category_id, ignore_index)
        return SemanticMap(lut[self.segment_ids], class_names, ignore_index=ignore_index)


@dataclass(frozen=True)
class DepthMap:
    """Per-pixel depth. ``kind='metric'``: metres; ``'relative'``: affine-invariant inverse depth
    (Depth Anything's relative models), larger is nearer. ``focal_length_px`` when the model gives it."""

    depth: np.ndarray  # (H, W) float32
    kind: Literal["metric", "relative"] = "metric"
    focal_length_px: float | None = None

    def __post_init__(self) -> None:
        d = np.asarray(self.depth)
        if d.ndim != 2:
            raise ValueError(f"depth must be H x W, got shape {d.shape}")
        object.__setattr__(self, "depth", _readonly(d.astype(np.float32, copy=False)))

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.depth.shape[0]), int(self.depth.shape[1])

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.depth) & (self.depth > 0)

    def range(self) -> tuple[float, float]:
        v = self.depth[self.valid]
        return (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)

    def to_png16(self, scale: float = 1000.0) -> np.ndarray:
        """uint16 depth image in 1/scale metres (millimetres by default, as NYU and KITTI store it); 0 = invalid."""
        if self.kind != "metric":
            raise ValueError("a relative depth map has no unit; only metric depth is written as 16-bit PNG")
        d = np.where(self.valid, self.depth * scale, 0)
        return np.clip(np.round(d), 0, 65535).astype(np.uint16)

    def to_points(self, image: np.ndarray | None = None, stride: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
        """Back-projected (N, 3) points in metres (camera frame, y down) and their (N, 3) uint8 colours.

        Uses ``focal_length_px`` (or a 60-degree horizontal field of view when absent) and the image centre.
        """
        if self.kind != "metric":
            raise ValueError("a point cloud needs metric depth")
        h, w = self.image_size
        f = self.focal_length_px or (w / 2) / np.tan(np.radians(30))
        ys, xs = np.mgrid[0:h:stride, 0:w:stride]
        z = self.depth[ys, xs]
        keep = np.isfinite(z) & (z > 0)
        xs, ys, z = xs[keep], ys[keep], z[keep]
        pts = np.stack([(xs - w / 2) * z / f, (ys - h / 2) * z / f, z], -1).astype(np.float32)
        return pts, (image[ys, xs] if image is not None else None)


Result = Masks | RleMasks | SemanticMap | PanopticMap | DepthMap
