"""Interactive segmentation the SAM paper's way on COCO instances: simulated clicks, mIoU per click, NoC.

Every non-crowd ground-truth instance gets up to ``--clicks`` simulated clicks
(``seglab.interactive``: first at the mask's most interior point, then at the centre of the
largest error, previous logits fed back) and, apart, one prompt with its box. Metrics
(``seglab.interactive.summarize``): ``mIoU@1/2/3/5`` (percent, the curve the report draws),
``NoC@85`` / ``NoC@90`` (mean clicks to reach that IoU, capped at N), ``box mIoU`` and ``instances``.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from seglab.interactive import box_ious, evaluate_interactive, summarize

from . import BenchmarkInputError, Dataset, RunConfig, Sample, TaskContext
from .coco import NAME, image_path, instances

REGISTRY_TASK = "promptable"
DATASETS = ("coco",)
DEFAULT_CLICKS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clicks", type=int, default=DEFAULT_CLICKS,
                        help="interactive: simulated clicks per instance (NoC is capped at this)")


def clicks(config: RunConfig) -> int:
    n = int(config.options.get("clicks", DEFAULT_CLICKS))
    if n < 1:
        raise BenchmarkInputError("--clicks must be at least 1")
    return n


def load(config: RunConfig) -> Dataset:
    gt = instances(config)
    samples = []
    for img in gt.dataset["images"]:
        anns = [a for a in gt.imgToAnns.get(img["id"], []) if not a.get("iscrowd") and a.get("area", 1) > 0]
        if anns:
            samples.append(Sample(str(img["id"]), image_path(config, img["file_name"]), img["id"],
                                  [a["id"] for a in anns]))
    note = (f"class-agnostic; per non-crowd instance {clicks(config)} simulated clicks (SAM protocol: most "
            "interior point of the largest error, previous logits fed back) and one box prompt; an image's latency "
            "covers every click and box of all its instances")
    return Dataset(NAME, tuple(samples), gt, note=note)


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> dict[str, Any]:
    """IoU after each click and with the box, per instance (``ann_ids`` links them to the ground truth)."""
    gt = context.dataset.gt
    anns = gt.loadAnns(sample.target)
    masks = np.stack([gt.annToMask(a).astype(bool) for a in anns])
    keep = masks.reshape(len(masks), -1).any(1)  # a polygon can rasterise to nothing
    masks = masks[keep]
    ious = evaluate_interactive(model, image, masks, max_clicks=clicks(context.config))
    boxes = box_ious(model, image, masks)
    return {"ann_ids": [a["id"] for a, k in zip(anns, keep) if k],
            "click_ious": np.round(ious, 6).tolist(), "box_ious": np.round(boxes, 6).tolist()}


def score(records: list[dict], dataset: Dataset, config: RunConfig) -> dict[str, float]:
    rows = [row for r in records for row in r["prediction"]["click_ious"]]
    if not rows:
        raise BenchmarkInputError("no instance was evaluated, so there is nothing to score")
    ious = np.array(rows, np.float64)
    boxes = np.array([b for r in records for b in r["prediction"]["box_ious"]], np.float64)
    return summarize(ious, boxes)
