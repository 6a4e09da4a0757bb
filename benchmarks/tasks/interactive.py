"""Interactive segmentation the SAM paper's way on COCO instances: simulated clicks, mIoU per click, NoC.

Every non-crowd ground-truth instance gets up to ``--clicks`` simulated clicks
(``seglab.interactive``: first at the mask's most interior point, then at the centre of the
largest error, previous logits fed back) and, apart, one prompt with its box. Metrics
(``seglab.metrics.interactive.summarize``): ``mIoU@1/2/3/5`` (percent, the curve the report draws),
``NoC@85`` / ``NoC@90`` (mean clicks to reach that IoU, capped at N), ``box mIoU`` and ``instances``.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from seglab.interactive import box_ious, evaluate_interactive
from seglab.metrics import InteractiveEvaluator

from . import BenchmarkInputError, Dataset, Prediction, RunConfig, Sample, TaskContext
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


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """IoU after each click and with the box, per instance (``ann_ids`` links them to the ground truth)."""
    gt = context.dataset.gt
    anns = gt.loadAnns(sample.target)
    masks = np.stack([gt.annToMask(a).astype(bool) for a in anns])
    keep = masks.reshape(len(masks), -1).any(1)  # a polygon can rasterise to nothing
    masks = masks[keep]
    ious = evaluate_interactive(model, image, masks, max_clicks=clicks(context.config))
    boxes = box_ious(model, image, masks)
    record = {"ann_ids": [a["id"] for a, k in zip(anns, keep) if k],
              "click_ious": np.round(ious, 6).tolist(), "box_ious": np.round(boxes, 6).tolist()}
    return Prediction(record, record)  # rounded as saved, so a fresh run and --rescore score the same numbers


class ClickEvaluator:
    """The click and box IoUs of every instance into :class:`seglab.metrics.InteractiveEvaluator`."""

    def __init__(self) -> None:
        self.clicks = InteractiveEvaluator()

    def reset(self) -> None:
        self.clicks.reset()

    def process(self, sample: Sample, prediction: dict[str, Any]) -> None:
        self.clicks.process(prediction["click_ious"], prediction["box_ious"])

    def evaluate(self) -> dict[str, float]:
        if not self.clicks.click_ious:
            raise BenchmarkInputError("no instance was evaluated, so there is nothing to score")
        return self.clicks.evaluate()


def evaluator(dataset: Dataset, config: RunConfig) -> ClickEvaluator:
    return ClickEvaluator()
