"""Object candidates without a learned detector: superpixels merged hierarchically, as selective search does.

Felzenszwalb's graph segmentation (scikit-image) cuts a small copy of the image into superpixels;
neighbouring regions are then merged greedily, most similar first (colour histogram, size and fill
as in Uijlings et al., Selective Search for Object Recognition, IJCV 2013). Every region of the
resulting tree is an object candidate: a click picks among the regions containing it, "segment
everything" ranks all of them, coarse levels first (:func:`proposal_scores`). Each region carries an
objectness score from cues that need no training: how much stronger its boundary is than the image's
typical superpixel boundary, how salient it is against its surroundings, and how little of it lies on
the image border.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import cv2
import numpy as np

FELZENSZWALB_SCALE = 100  # larger: fewer, bigger superpixels (at the working resolution)
FELZENSZWALB_MIN_SIZE = 30  # pixels at the working resolution
HIST_BINS = 25  # per Lab channel, as selective search
SALIENCY_SIMILARITY = 1.0  # weight of equal mean saliency in the merge order, beside colour, size and fill


@dataclass(frozen=True)
class RegionHierarchy:
    """The merge tree of one image at working resolution.

    Nodes ``0 .. leaves-1`` are superpixels (``labels`` holds them per pixel); every later node
    merges two earlier ones. Per node: ``members`` (its superpixel ids), ``parent`` (-1 at a root),
    ``boxes`` (xyxy, exclusive, in working pixels), ``sizes`` (pixels) and ``scores`` (objectness, 0..1).
    """

    labels: np.ndarray
    members: tuple[np.ndarray, ...]
    parent: np.ndarray
    boxes: np.ndarray
    sizes: np.ndarray
    scores: np.ndarray

    @property
    def nbytes(self) -> int:
        """Memory held, for the byte-bounded cache."""
        arrays = (self.labels, self.parent, self.boxes, self.sizes, self.scores, *self.members)
        return sum(a.nbytes for a in arrays)

    @property
    def leaves(self) -> int:
        return int(self.labels.max()) + 1

    @property
    def levels(self) -> np.ndarray:
        """Per node, its level from the top of its tree: 1 at a root, its parent's level + 1 below."""
        out = np.ones(len(self.parent), np.int64)
        for k in range(len(self.parent) - 1, -1, -1):  # a parent is created after its children
            if self.parent[k] >= 0:
                out[k] = out[self.parent[k]] + 1
        return out

    def mask(self, node: int) -> np.ndarray:
        """The node's pixels, H x W bool at working resolution."""
        return np.isin(self.labels, self.members[node])

    def chain(self, x: float, y: float) -> list[int]:
        """Nodes containing working pixel (x, y), from its superpixel up to the root."""
        h, w = self.labels.shape
        node = int(self.labels[min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1)])
        out = [node]
        while self.parent[node] >= 0:
            node = int(self.parent[node])
            out.append(node)
        return out


def superpixels(image: np.ndarray, scale: float = FELZENSZWALB_SCALE) -> np.ndarray:
    """Felzenszwalb superpixels of an RGB uint8 image: H x W int32 ids 0..n-1 (larger ``scale``: fewer, bigger)."""
    from skimage.segmentation import felzenszwalb

    return felzenszwalb(image, scale=scale, sigma=0.8, min_size=FELZENSZWALB_MIN_SIZE).astype(np.int32)


def build_hierarchy(image: np.ndarray, saliency: np.ndarray, labels: np.ndarray) -> RegionHierarchy:
    """The region tree of an RGB uint8 image (already at working resolution), its 0..1 saliency map and
    its :func:`superpixels`."""
    n = int(labels.max()) + 1
    h, w = labels.shape
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    sizes = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    bins = (lab.astype(np.int64) * HIST_BINS // 256) + np.arange(3) * HIST_BINS
    hist = np.zeros((n, 3 * HIST_BINS))
    for c in range(3):
        hist += np.bincount(labels.ravel() * 3 * HIST_BINS + bins[..., c].ravel(),
                            minlength=n * 3 * HIST_BINS).reshape(n, -1)
    hist /= hist.sum(1, keepdims=True)
    salient = np.bincount(labels.ravel(), saliency.ravel(), minlength=n)
    ys, xs = np.mgrid[0:h, 0:w]
    boxes = np.stack([_group_min(labels, xs, n), _group_min(labels, ys, n),
                      -_group_min(labels, -xs, n) + 1, -_group_min(labels, -ys, n) + 1], 1).astype(np.float64)
    edge = _edge_strength(lab)
    shared = _shared_boundaries(labels, edge, n)
    on_border = np.bincount(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]), minlength=n)
    return _merge(labels, hist, sizes, salient, boxes, shared, on_border.astype(np.float64))


def _group_min(labels: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(out, labels.ravel(), values.ravel())
    return out


def _edge_strength(lab: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude of a Lab image, smoothed a little."""
    smooth = cv2.GaussianBlur(lab.astype(np.float32), (0, 0), 1.0)
    gx, gy = cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    return np.sqrt((gx ** 2 + gy ** 2).sum(2))


def _shared_boundaries(labels: np.ndarray, edge: np.ndarray, n: int) -> dict[tuple[int, int], list[float]]:
    """(a, b) with a < b -> [boundary length, summed edge strength] between neighbouring superpixels."""
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:].ravel()])
    e = np.concatenate([np.maximum(edge[:, :-1], edge[:, 1:]).ravel(), np.maximum(edge[:-1], edge[1:]).ravel()])
    cut = a != b
    lo, hi, e = np.minimum(a[cut], b[cut]), np.maximum(a[cut], b[cut]), e[cut]
    keys, inverse = np.unique(lo.astype(np.int64) * n + hi, return_inverse=True)
    length = np.bincount(inverse)
    strength = np.bincount(inverse, e)
    return {(int(k // n), int(k % n)): [float(c), float(s)] for k, c, s in zip(keys, length, strength)}


def _merge(labels: np.ndarray, hist: np.ndarray, sizes: np.ndarray, salient: np.ndarray, boxes: np.ndarray,
           shared: dict[tuple[int, int], list[float]], on_border: np.ndarray) -> RegionHierarchy:
    """Greedy selective-search grouping; every node's objectness from its boundary, saliency and border."""
    n = len(sizes)
    total = float(labels.size)
    nodes = 2 * n - 1  # at most: every merge adds one node

    def grown(a: np.ndarray) -> np.ndarray:
        out = np.zeros((nodes, *a.shape[1:]))
        out[:n] = a
        return out

    hist, sizes, salient, boxes, on_border = grown(hist), grown(sizes), grown(salient), grown(boxes), grown(on_border)
    neighbours: list[dict[int, list[float]]] = [{} for _ in range(n)]
    for (a, b), value in shared.items():
        neighbours[a][b] = value
        neighbours[b][a] = value
    members: list[np.ndarray] = [np.array([i]) for i in range(n)]
    parent = [-1] * n

    def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per pair (a[i], b[i]): colour, size, fill and saliency similarity."""
        lo, hi = np.minimum(boxes[a, :2], boxes[b, :2]), np.maximum(boxes[a, 2:], boxes[b, 2:])
        fill = 1 - ((hi[:, 0] - lo[:, 0]) * (hi[:, 1] - lo[:, 1]) - sizes[a] - sizes[b]) / total
        same_saliency = 1 - np.abs(salient[a] / sizes[a] - salient[b] / sizes[b])
        return (np.minimum(hist[a], hist[b]).sum(1) + (1 - (sizes[a] + sizes[b]) / total) + fill
                + SALIENCY_SIMILARITY * same_saliency)

    pairs = np.array(list(shared), np.int64).reshape(-1, 2)
    heap = [(-s, a, b) for s, a, b in zip(similarity(pairs[:, 0], pairs[:, 1]).tolist(), *pairs.T.tolist())]
    heapq.heapify(heap)
    alive = set(range(n))
    k = n
    while heap:
        _, a, b = heapq.heappop(heap)
        if a not in alive or b not in alive:
            continue
        alive -= {a, b}
        sizes[k] = sizes[a] + sizes[b]
        hist[k] = (hist[a] * sizes[a] + hist[b] * sizes[b]) / sizes[k]
        salient[k] = salient[a] + salient[b]
        boxes[k] = np.concatenate([np.minimum(boxes[a, :2], boxes[b, :2]), np.maximum(boxes[a, 2:], boxes[b, 2:])])
        on_border[k] = on_border[a] + on_border[b]
        members.append(np.concatenate([members[a], members[b]]))
        parent[a] = parent[b] = k
        parent.append(-1)
        merged: dict[int, list[float]] = {}
        for old in (a, b):
            for c, (length, strength) in neighbours[old].items():
                if c in (a, b):
                    continue
                acc = merged.setdefault(c, [0.0, 0.0])
                acc[0] += length
                acc[1] += strength
                neighbours[c].pop(old, None)
        others = list(merged)
        for c, s in zip(others, similarity(np.array(others, np.int64), np.full(len(others), k)).tolist()):
            neighbours[c][k] = merged[c]
            heapq.heappush(heap, (-s, c, k))
        neighbours.append(merged)
        alive.add(k)
        k += 1
    boundary = np.array([[sum(v[0] for v in nb.values()), sum(v[1] for v in nb.values())] for nb in neighbours])
    scores = _objectness(sizes[:k], salient[:k], on_border[:k], boundary, total)
    return RegionHierarchy(labels, tuple(members), np.array(parent), boxes[:k], sizes[:k], scores)


def _objectness(sizes: np.ndarray, salient: np.ndarray, on_border: np.ndarray, boundary: np.ndarray,
                total: float) -> np.ndarray:
    """0..1 per node: boundary contrast (mean edge on its boundary against the median superpixel boundary's),
    mean saliency, and the share of its outline not on the image border; regions over half the image score 0."""
    mean_edge = boundary[:, 1] / np.maximum(boundary[:, 0], 1)
    typical = float(np.median(mean_edge[boundary[:, 0] > 0])) if (boundary[:, 0] > 0).any() else 1.0
    contrast = 1 - np.exp(-mean_edge / max(typical, 1e-6))
    inner = boundary[:, 0] / np.maximum(boundary[:, 0] + on_border, 1)
    saliency = salient / np.maximum(sizes, 1)
    score = (contrast + saliency) / 2 * inner
    return np.where(sizes > total / 2, 0.0, score)


def proposal_scores(tree: RegionHierarchy) -> np.ndarray:
    """Per node, ``1 / (level + 1 - objectness)`` in (0, 1]: coarse levels of the tree first, then the more
    object-like, as selective search ranks its hierarchies (Uijlings et al. 2013, without the random factor)."""
    return 1.0 / (tree.levels + 1 - tree.scores)
