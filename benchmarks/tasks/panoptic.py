"""Panoptic segmentation: PQ / SQ / RQ for all, things and stuff, on COCO val2017 (133 categories)
or Cityscapes val (``--dataset cityscapes --root DIR``: 19 categories, the ground truth that
cityscapesScripts' createPanopticImgs makes from the fine labels).

Each prediction is written as the COCO panoptic format does: a PNG (id = R + 256 G + 256^2 B)
under ``<pred_dir>/panoptic/`` and its ``segments_info`` in the record. A model is scored only on
the label set it predicts (its registry entry's ``labels``), except with ``--random-init``.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

import seglab
from seglab.datasets import get_label_set
from seglab.formats import read_panoptic_png
from seglab.metrics import PanopticEvaluator

from . import BenchmarkInputError, Dataset, Prediction, RunConfig, Sample, TaskContext
from .coco import NAME, image_path, panoptic

REGISTRY_TASK = "panoptic"
DATASETS = ("coco", "cityscapes")
KEYS = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")


def load(config: RunConfig) -> Dataset:
    spec = seglab.get_spec(config.model)
    labels = get_label_set(spec.labels)
    if labels.dataset != config.dataset and not config.random_init:
        raise BenchmarkInputError(f"{spec.id} predicts its own label set, not {config.dataset}'s ({labels.name}); "
                                  "score it on its data set or measure latency with --random-init")
    if config.dataset == "cityscapes":
        return _cityscapes(config)
    data, folder = panoptic(config)
    files = {im["id"]: im["file_name"] for im in data["images"]}
    samples = tuple(Sample(str(a["image_id"]), image_path(config, files[a["image_id"]]), a["image_id"], a)
                    for a in data["annotations"] if a["image_id"] in files)
    return Dataset(NAME, samples, (data, folder), note="PQ over the images with panoptic ground truth, 133 classes")


def _cityscapes(config: RunConfig) -> Dataset:
    from seglab.datasets import cityscapes

    if config.root is None:
        raise BenchmarkInputError("--dataset cityscapes needs --root, the data set's folder")
    data, folder, images = cityscapes.load_panoptic(config.root)
    samples = []
    for a in data["annotations"]:  # the image from its id (the JSON's file_name keeps a stray "_gtFine")
        stem = str(a["image_id"])
        path = images / stem.split("_")[0] / f"{stem}{cityscapes.IMAGE_SUFFIX}"
        if not path.is_file():
            raise BenchmarkInputError(f"missing image {path} for the ground truth of {a['image_id']}")
        samples.append(Sample(stem, path, stem, a))
    return Dataset("cityscapes-val", tuple(samples), (data, folder),
                   note="PQ on full-resolution 2048x1024 images, 19 classes (cityscapesScripts' panoptic ground truth)")


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """The COCO panoptic annotation (file_name, segments_info); the PNG is written beside the records.
    The output is (segment ids, segments_info)."""
    pan = seglab.predict(model, image)
    rgb, ann = pan.to_coco_panoptic(sample.image_id, f"{sample.key}.png")
    folder = context.pred_dir / "panoptic"
    folder.mkdir(exist_ok=True)
    if not cv2.imwrite(str(folder / ann["file_name"]), rgb[..., ::-1]):
        raise OSError(f"could not write {folder / ann['file_name']}")
    return Prediction(ann, (pan.segment_ids, ann["segments_info"]))


def read(record: dict, sample: Sample, context: TaskContext) -> tuple[np.ndarray, list[dict]]:
    """(segment ids, segments_info) of a saved prediction."""
    ann = record["prediction"]
    return read_panoptic_png(context.pred_dir / "panoptic" / ann["file_name"]), ann["segments_info"]


class PqEvaluator:
    """PQ / SQ / RQ (all, things, stuff) against the data set's panoptic PNGs."""

    def __init__(self, dataset: Dataset) -> None:
        data, self.gt_folder = dataset.gt
        self.categories = data["categories"]
        self.reset()

    def reset(self) -> None:
        self.pq = PanopticEvaluator(self.categories)

    def process(self, sample: Sample, output: tuple[np.ndarray, list[dict]]) -> None:
        pred_ids, pred_segments = output
        gt = sample.target
        self.pq.process_arrays(read_panoptic_png(self.gt_folder / gt["file_name"]), gt["segments_info"],
                               pred_ids, pred_segments, image=sample.key)

    def evaluate(self) -> dict[str, float]:
        result = self.pq.evaluate()
        return {k: result[k] for k in KEYS if k in result}


def evaluator(dataset: Dataset, config: RunConfig) -> PqEvaluator:
    return PqEvaluator(dataset)
