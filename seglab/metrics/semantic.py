"""Semantic segmentation metrics from a confusion matrix: mIoU, pixel accuracy, mean accuracy, per-class F1.

Ground-truth pixels equal to ``ignore_index`` (255) are left out. A prediction outside
``0 .. C-1`` (e.g. 255 from a model that leaves pixels unlabeled) counts as a miss for the true
class: it lands in an extra last column of the C x (C + 1) matrix. A class absent from both ground
truth and prediction has an undefined IoU (NaN) and is left out of the mean (NaN-mean, as mmseg and
the Cityscapes scripts do). Results are in percent.

Ground truth helpers: the 133-class COCO panoptic semantic map (every segment, crowd included,
gets its category's contiguous index in the JSON's category order, void is 255; as detectron2 /
MaskFormer build it) and torchvision's VOC-21 subset of COCO instances (references/segmentation/
coco_utils.py: 20 VOC categories, remapped to 1..20, overlapping instances set to 255).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from ..datasets.labels import VOC_COCO_CATEGORIES
from ..formats import FormatError
from ..results import PanopticMap, SemanticMap


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """C x (C + 1) int64 counts: row = true class, column = predicted class, last column = invalid prediction."""
    gt, pred = np.asarray(gt).reshape(-1), np.asarray(pred).reshape(-1)
    if gt.shape != pred.shape:
        raise FormatError(f"prediction has {pred.size} pixels but the ground truth has {gt.size}")
    keep = gt != ignore_index
    g, p = gt[keep].astype(np.int64), pred[keep].astype(np.int64)
    if g.size and (g.min() < 0 or g.max() >= num_classes):
        bad = np.unique(g[(g < 0) | (g >= num_classes)])[:5].tolist()
        raise FormatError(f"ground truth has class ids {bad} outside 0..{num_classes - 1} (and not {ignore_index})")
    p = np.where((p >= 0) & (p < num_classes), p, num_classes)
    return np.bincount(g * (num_classes + 1) + p, minlength=num_classes * (num_classes + 1)).reshape(
        num_classes, num_classes + 1)


def semantic_metrics(conf: np.ndarray, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """mIoU, pixel_acc, mean_acc (percent) and per-class ``IoU`` / ``Acc`` / ``F1`` from a C x C or C x (C + 1)
    matrix. F1 is the data set's (2 TP / (2 TP + FP + FN) over every pixel processed, as face- and human-parsing
    papers report it per part); a pixel predicted outside the classes is a false negative of its true class."""
    conf = np.asarray(conf, np.float64)
    c = conf.shape[0]
    tp = np.diagonal(conf[:, :c])
    gt_count, pred_count = conf.sum(1), conf[:, :c].sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (gt_count + pred_count - tp)
        acc = tp / gt_count
        f1 = 2 * tp / (gt_count + pred_count)
    names = list(class_names) if class_names is not None else [str(i) for i in range(c)]
    total = conf.sum()
    nanmean = lambda a: float(np.nanmean(a)) * 100 if np.isfinite(a).any() else float("nan")  # noqa: E731
    return {
        "mIoU": nanmean(iou), "pixel_acc": float(tp.sum() / total) * 100 if total else float("nan"),
        "mean_acc": nanmean(acc), "n_classes": int(np.isfinite(iou).sum()),
        "IoU": {n: float(v) * 100 for n, v in zip(names, iou)},
        "Acc": {n: float(v) * 100 for n, v in zip(names, acc)},
        "F1": {n: float(v) * 100 for n, v in zip(names, f1)},
    }


class SemanticEvaluator:
    """Streaming mIoU: ``reset()``, ``process(gt, pred)`` per image (arrays or :class:`SemanticMap`), ``evaluate()``."""

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None, ignore_index: int = 255):
        self.num_classes, self.class_names, self.ignore_index = num_classes, class_names, ignore_index
        self.reset()

    def reset(self) -> None:
        self.conf = np.zeros((self.num_classes, self.num_classes + 1), np.int64)
        self.images = 0

    def process(self, gt: SemanticMap | np.ndarray, pred: SemanticMap | np.ndarray) -> None:
        g = gt.labels if isinstance(gt, SemanticMap) else gt
        p = pred.labels if isinstance(pred, SemanticMap) else pred
        if np.shape(g) != np.shape(p):
            raise FormatError(f"prediction is {np.shape(p)} but the ground truth is {np.shape(g)}")
        self.conf += confusion_matrix(g, p, self.num_classes, self.ignore_index)
        self.images += 1

    def evaluate(self) -> dict[str, Any]:
        """mIoU, pixel_acc, mean_acc and per-class numbers over the images processed (see :func:`semantic_metrics`)."""
        return {**semantic_metrics(self.conf, self.class_names), "images": self.images}


def panoptic_semantic_classes(categories: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, ...], dict[int, int]]:
    """(class names, category id -> contiguous class index) in the categories' order (133 for COCO panoptic)."""
    cats = list(categories)
    return tuple(c.get("name", str(c["id"])) for c in cats), {int(c["id"]): i for i, c in enumerate(cats)}


def panoptic_to_semantic(panoptic: PanopticMap, categories: Iterable[Mapping[str, Any]],
                         ignore_index: int = 255) -> SemanticMap:
    """Semantic ground truth from panoptic ground truth: each segment's class index; void -> ``ignore_index``."""
    names, mapping = panoptic_semantic_classes(categories)
    return panoptic.to_semantic(names, mapping, ignore_index)


def coco_to_voc_labels(annotations: Iterable[Mapping[str, Any]], height: int, width: int) -> np.ndarray:
    """H x W uint8 VOC-21 label map from one image's COCO instance annotations, as torchvision builds it."""
    masks, cats = [], []
    for a in annotations:
        if a["category_id"] not in VOC_COCO_CATEGORIES:
            continue
        rle = mask_utils.frPyObjects(a["segmentation"], height, width)
        m = mask_utils.decode(rle)
        masks.append(m.any(axis=2) if m.ndim == 3 else m.astype(bool))
        cats.append(VOC_COCO_CATEGORIES.index(a["category_id"]))
    if not masks:
        return np.zeros((height, width), np.uint8)
    stack = np.stack(masks).astype(np.uint8)
    target = (stack * np.array(cats, np.uint8)[:, None, None]).max(0)
    target[stack.sum(0) > 1] = 255
    return target
