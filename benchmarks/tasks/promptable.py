"""Promptable models scored the SAM paper's way on COCO instances (class-agnostic).

Each non-crowd ground-truth instance prompts the model once, with its box (default) or with
its centre point (the interior point farthest from the boundary, ``--prompt center-point``);
the mask returned for that prompt is a COCO result. Metrics: class-agnostic AR@100 (COCOeval
over the prompted masks) and mIoU (mean IoU of each instance's mask with its ground truth;
an instance whose image failed is left out, one the model returned nothing for counts 0).
``--everything``: segment-everything proposals per image instead, class-agnostic AR@100.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

import seglab
from seglab.metrics import InstanceEvaluator

from . import Dataset, Prediction, RunConfig, Sample, TaskContext
from .coco import NAME, image_path, instances

REGISTRY_TASK = "promptable"
DATASETS = ("coco",)


def load(config: RunConfig) -> Dataset:
    gt = instances(config)
    everything = config.options.get("everything")
    samples = []
    for img in gt.dataset["images"]:
        anns = [a for a in gt.imgToAnns.get(img["id"], []) if not a.get("iscrowd")]
        if anns or everything:
            samples.append(Sample(str(img["id"]), image_path(config, img["file_name"]), img["id"],
                                  [a["id"] for a in anns]))
    how = "segment-everything proposals" if everything else f"one {config.options.get('prompt', 'box')} prompt " \
        "per non-crowd ground-truth instance"
    return Dataset(NAME, tuple(samples), gt, note=f"class-agnostic, {how}; an image's latency covers all its prompts")


def _box(ann: dict, height: int, width: int) -> list[float]:
    x, y, w, h = ann["bbox"]
    x0, y0 = min(x, width - 1), min(y, height - 1)
    return [x0, y0, max(x + w, x0 + 1), max(y + h, y0 + 1)]  # at least one pixel, as a prompt needs


def center_point(mask: np.ndarray) -> tuple[float, float]:
    """The pixel of ``mask`` farthest from its boundary (x, y)."""
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x) + 0.5, float(y) + 0.5


def _entry(masks: seglab.Masks, i: int, image_id: Any, ann_id: int | None) -> dict[str, Any]:
    entry = masks.select([i]).to_coco(image_id, category_id=1)[0]
    return entry if ann_id is None else {**entry, "ann_id": ann_id}


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """COCO result entries (class 1), one per prompted instance (``ann_id`` links it to its ground truth)."""
    entries = _entries(model, image, sample, context)
    return Prediction(entries, entries)


def _entries(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> list[dict[str, Any]]:
    config, gt = context.config, context.dataset.gt
    if config.options.get("everything"):
        from seglab.everything import segment_everything

        masks = segment_everything(model, image).masks
        return [_entry(masks, i, sample.image_id, None) for i in np.argsort(-masks.scores)[:100]]
    anns = gt.loadAnns(sample.target)
    h, w = image.shape[:2]
    out = []
    if config.options.get("prompt") == "center-point":
        for ann in anns:
            point = center_point(gt.annToMask(ann))
            masks = seglab.predict(model, image, seglab.Prompt.build(points=[point], labels=[1]))
            out.append(_entry(masks.sorted(), 0, sample.image_id, ann["id"]))  # best of a multi-mask answer
        return out
    for start in range(0, len(anns), config.batch_size):
        chunk = anns[start:start + config.batch_size]
        masks = seglab.predict(model, image, seglab.Prompt.build(boxes=[_box(a, h, w) for a in chunk]))
        if len(masks) != len(chunk):
            raise RuntimeError(f"{len(chunk)} box prompts gave {len(masks)} masks; expected one per box")
        out += [_entry(masks, i, sample.image_id, a["id"]) for i, a in enumerate(chunk)]
    return out


class PromptableEvaluator:
    """Class-agnostic COCO AR@100 (and AP) over the prompted masks and, unless ``--everything``, the mean IoU of
    each prompted instance with its ground truth (pycocotools' mask IoU; an instance without a mask counts 0)."""

    def __init__(self, dataset: Dataset, config: RunConfig) -> None:
        self.gt, self.everything = dataset.gt, bool(config.options.get("everything"))
        self.coco = InstanceEvaluator(self.gt, class_agnostic=True)
        self.reset()

    def reset(self) -> None:
        self.coco.reset()
        self.ious: list[float] = []

    def process(self, sample: Sample, entries: list[dict[str, Any]]) -> None:
        self.coco.process(sample.image_id, entries)
        if self.everything:
            return
        by_ann = {e["ann_id"]: e["segmentation"] for e in entries if "ann_id" in e}
        for ann in self.gt.loadAnns(sample.target):
            seg = by_ann.get(ann["id"])
            dt = None if seg is None else {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
            self.ious.append(0.0 if dt is None else float(mask_utils.iou([dt], [self.gt.annToRLE(ann)], [0])[0, 0]))

    def evaluate(self) -> dict[str, float]:
        metrics = self.coco.evaluate()
        out = {k: metrics[k] for k in ("AR@100", "ARs", "ARm", "ARl")}
        if not self.everything:
            out["AP"] = metrics["AP"]
            out["mIoU"] = float(np.mean(self.ious) * 100) if self.ious else float("nan")
        return out


def evaluator(dataset: Dataset, config: RunConfig) -> PromptableEvaluator:
    return PromptableEvaluator(dataset, config)
