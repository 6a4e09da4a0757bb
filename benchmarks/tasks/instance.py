"""Instance segmentation on COCO val2017: mask AP, AR@100 and box AP with COCOeval (80 classes).

Each model runs its registry protocol's own inference (``seglab.predict``'s defaults: Mask2Former's top 100
over queries x classes without a score threshold, Mask R-CNN's own 0.05 box score threshold); at most
COCOeval's 100 detections an image are kept, best first.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import seglab
from seglab.metrics import InstanceEvaluator

from . import Dataset, Prediction, RunConfig, Sample, TaskContext
from .coco import NAME, image_path, instances

REGISTRY_TASK = "instance"
DATASETS = ("coco",)
MAX_DETECTIONS = 100  # COCOeval's largest maxDets


def load(config: RunConfig) -> Dataset:
    gt = instances(config)
    samples = tuple(Sample(str(img["id"]), image_path(config, img["file_name"]), img["id"])
                    for img in gt.dataset["images"])
    return Dataset(NAME, samples, gt,
                   note=f"COCO mask AP / AR@100 and box AP over every image, 80 classes, the model's protocol's "
                        f"detections (at most {MAX_DETECTIONS})")


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """COCO result entries (labels are COCO category ids), best first, at most 100."""
    masks = seglab.predict(model, image)
    entries = masks.to_coco(sample.image_id)[:MAX_DETECTIONS]
    return Prediction(entries, entries)


class CocoEvaluator:
    """Mask AP (all, 50, 75, by size) and AR@100, and box AP over the entries' boxes (the detector's own where it
    has them, else the masks' boxes), over the images processed, 80 classes."""

    KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR@100")

    def __init__(self, dataset: Dataset) -> None:
        self.masks, self.boxes = InstanceEvaluator(dataset.gt), InstanceEvaluator(dataset.gt, iou_type="bbox")

    def reset(self) -> None:
        self.masks.reset()
        self.boxes.reset()

    def process(self, sample: Sample, entries: list[dict[str, Any]]) -> None:
        self.masks.process(sample.image_id, entries)
        self.boxes.process(sample.image_id, entries)

    def evaluate(self) -> dict[str, float]:
        metrics = self.masks.evaluate()
        return {**{k: metrics[k] for k in self.KEYS}, "box AP": self.boxes.evaluate()["AP"]}


def evaluator(dataset: Dataset, config: RunConfig) -> CocoEvaluator:
    return CocoEvaluator(dataset)
