"""Panoptic segmentation on COCO val2017: PQ / SQ / RQ for all, things and stuff (133 categories).

Each prediction is written as the COCO panoptic format does: a PNG (id = R + 256 G + 256^2 B)
under ``<pred_dir>/panoptic/`` and its ``segments_info`` in the record.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

import seglab
from seglab.formats import read_panoptic_png
from seglab.metrics import PanopticEvaluator

from . import Dataset, RunConfig, Sample, TaskContext
from .coco import NAME, image_path, panoptic

REGISTRY_TASK = "panoptic"
KEYS = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")


def load(config: RunConfig) -> Dataset:
    data, folder = panoptic(config)
    files = {im["id"]: im["file_name"] for im in data["images"]}
    samples = tuple(Sample(str(a["image_id"]), image_path(config, files[a["image_id"]]), a["image_id"], a)
                    for a in data["annotations"] if a["image_id"] in files)
    return Dataset(NAME, samples, (data, folder), note="PQ over the images with panoptic ground truth, 133 classes")


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> dict[str, Any]:
    """The COCO panoptic annotation (file_name, segments_info); the PNG is written beside the records."""
    pan = seglab.predict(model, image)
    rgb, ann = pan.to_coco_panoptic(sample.image_id, f"{sample.key}.png")
    folder = context.pred_dir / "panoptic"
    folder.mkdir(exist_ok=True)
    if not cv2.imwrite(str(folder / ann["file_name"]), rgb[..., ::-1]):
        raise OSError(f"could not write {folder / ann['file_name']}")
    return ann


def score(records: list[dict], dataset: Dataset, config: RunConfig) -> dict[str, float]:
    data, gt_folder = dataset.gt
    targets = {s.key: s.target for s in dataset.samples}
    evaluator = PanopticEvaluator(data["categories"])
    for r in records:
        gt = targets[r["key"]]
        pred = r["prediction"]
        pred_ids = read_panoptic_png(f"{r['pred_dir']}/panoptic/{pred['file_name']}")
        evaluator.process_arrays(read_panoptic_png(gt_folder / gt["file_name"]), gt["segments_info"],
                                 pred_ids, pred["segments_info"], image=r["key"])
    result = evaluator.result()
    return {k: result[k] for k in KEYS if k in result}
