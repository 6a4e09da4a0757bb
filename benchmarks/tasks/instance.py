"""Instance segmentation on COCO val2017: mask AP and AR@100 with COCOeval (80 classes)."""
from __future__ import annotations

from typing import Any

import numpy as np

import seglab
from seglab.metrics import coco_instance_metrics

from . import Dataset, RunConfig, Sample, TaskContext
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


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> list[dict[str, Any]]:
    """COCO result entries (labels are COCO category ids), best first, at most 100."""
    masks = seglab.predict(model, image, threshold=THRESHOLD)
    return masks.to_coco(sample.image_id)[:MAX_DETECTIONS]


def score(records: list[dict], dataset: Dataset, config: RunConfig) -> dict[str, float]:
    entries = [e for r in records for e in r["prediction"]]
    metrics = coco_instance_metrics(dataset.gt, entries, image_ids=[r["image_id"] for r in records])
    return {k: metrics[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR@100")}
