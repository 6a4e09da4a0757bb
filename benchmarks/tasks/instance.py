"""Instance segmentation on COCO val2017: mask AP and AR@100 with COCOeval (80 classes)."""
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
THRESHOLD = 0.05  # keep low-scoring detections, as COCO evaluations (and torchvision's reference) do


def load(config: RunConfig) -> Dataset:
    gt = instances(config)
    samples = tuple(Sample(str(img["id"]), image_path(config, img["file_name"]), img["id"])
                    for img in gt.dataset["images"])
    return Dataset(NAME, samples, gt,
                   note=f"COCO mask AP / AR@100 over every image, 80 classes, detections scoring >= {THRESHOLD}")


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """COCO result entries (labels are COCO category ids), best first, at most 100."""
    masks = seglab.predict(model, image, threshold=THRESHOLD)
    entries = masks.to_coco(sample.image_id)[:MAX_DETECTIONS]
    return Prediction(entries, entries)


class CocoEvaluator:
    """Mask AP (all, 50, 75, by size) and AR@100 over the images processed, 80 classes."""

    KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR@100")

    def __init__(self, dataset: Dataset) -> None:
        self.coco = InstanceEvaluator(dataset.gt)

    def reset(self) -> None:
        self.coco.reset()

    def process(self, sample: Sample, entries: list[dict[str, Any]]) -> None:
        self.coco.process(sample.image_id, entries)

    def evaluate(self) -> dict[str, float]:
        metrics = self.coco.evaluate()
        return {k: metrics[k] for k in self.KEYS}


def evaluator(dataset: Dataset, config: RunConfig) -> CocoEvaluator:
    return CocoEvaluator(dataset)
