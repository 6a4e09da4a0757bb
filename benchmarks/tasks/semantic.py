"""Semantic segmentation: mIoU on COCO val2017 or on a driving data set (``--dataset cityscapes --root DIR``).

On COCO the ground truth follows the model's label set: torchvision's FCN / DeepLabV3 predict
the 21 VOC classes and are scored on torchvision's VOC subset of the instance annotations
(``coco-val2017-voc``); COCO panoptic models are scored on the 133-class semantic map of the
panoptic annotations (``coco-val2017``). Predictions are label PNGs under ``<pred_dir>/semantic/``.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

import seglab
from seglab import PanopticMap
from seglab.formats import read_label_png, write_label_png
from seglab.metrics import SemanticEvaluator, coco_to_voc_labels, panoptic_semantic_classes, panoptic_to_semantic
from seglab.metrics.semantic import VOC_CLASSES

from . import BenchmarkInputError, Dataset, Prediction, RunConfig, Sample, TaskContext
from .coco import NAME, image_path, instances, panoptic

REGISTRY_TASK = "semantic"
DATASETS = ("coco", "cityscapes", "mapillary", "gta5")


def load(config: RunConfig) -> Dataset:
    if config.dataset != "coco":
        return _driving(config)
    spec = seglab.get_spec(config.model)
    if spec.family == "tv-semantic":
        gt = instances(config)
        samples = tuple(Sample(str(im["id"]), image_path(config, im["file_name"]), im["id"])
                        for im in gt.dataset["images"])
        return Dataset(f"{NAME}-voc", samples, ("voc", gt, VOC_CLASSES),
                       note="21 VOC classes from the COCO instances, as torchvision's reference scripts build them")
    if "coco" not in spec.weights and not config.random_init:
        raise BenchmarkInputError(f"{spec.id} predicts its own label set, not COCO's; score it on its data set "
                                  "(--dataset ... --root DIR) or measure latency with --random-init")
    data, folder = panoptic(config)
    names, _ = panoptic_semantic_classes(data["categories"])
    files = {im["id"]: im["file_name"] for im in data["images"]}
    samples = tuple(Sample(str(a["image_id"]), image_path(config, files[a["image_id"]]), a["image_id"], a)
                    for a in data["annotations"] if a["image_id"] in files)
    return Dataset(NAME, samples, ("panoptic", (data, folder), names),
                   note="133 COCO panoptic classes (semantic map of the panoptic annotations)")


def _driving(config: RunConfig) -> Dataset:
    from seglab.datasets import load_semantic_dataset

    if config.root is None:
        raise BenchmarkInputError(f"--dataset {config.dataset} needs --root, the data set's folder")
    ds = load_semantic_dataset(config.dataset, config.root)
    samples = tuple(Sample(s.image_id, s.image_path, s.image_id, s) for s in ds.samples)
    return Dataset(ds.benchmark_name, samples, ("driving", ds, ds.class_names), note=ds.note)


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """The label PNG's name and the model's number of classes; the output is (labels, number of classes)."""
    sem = seglab.predict(model, image)
    name = f"{sample.key}.png".replace("/", "_")
    write_label_png(context.pred_dir / "semantic" / name, sem)
    return Prediction({"file_name": name, "num_classes": len(sem.class_names)}, (sem.labels, len(sem.class_names)))


def read(record: dict, sample: Sample, context: TaskContext) -> tuple[np.ndarray, int]:
    """(labels, number of classes) of a saved prediction."""
    pred = record["prediction"]
    return read_label_png(context.pred_dir / "semantic" / pred["file_name"]), pred["num_classes"]


def ground_truth(dataset: Dataset, sample: Sample) -> np.ndarray:
    """H x W class indices (255 = ignore) of one sample."""
    kind, gt, _ = dataset.gt
    if kind == "voc":
        img = gt.imgs[sample.image_id]
        return coco_to_voc_labels(gt.loadAnns(gt.getAnnIds(imgIds=[sample.image_id])), img["height"], img["width"])
    if kind == "panoptic":
        data, folder = gt
        rgb = cv2.cvtColor(cv2.imread(str(folder / sample.target["file_name"])), cv2.COLOR_BGR2RGB)
        pan = PanopticMap.from_coco_panoptic(rgb, sample.target["segments_info"],
                                             {c["id"]: c for c in data["categories"]})
        return panoptic_to_semantic(pan, data["categories"]).labels
    return gt.load_label(sample.target)


class MiouEvaluator:
    """mIoU, pixel and mean accuracy against the data set's ground truth; a model of another label set is refused."""

    def __init__(self, dataset: Dataset, config: RunConfig) -> None:
        self.dataset, self.model = dataset, config.model
        self.names = dataset.gt[2]
        self.reset()

    def reset(self) -> None:
        self.miou = SemanticEvaluator(len(self.names), self.names)

    def process(self, sample: Sample, output: tuple[np.ndarray, int]) -> None:
        labels, num_classes = output
        if num_classes != len(self.names):
            raise BenchmarkInputError(f"{self.model} predicts {num_classes} classes but {self.dataset.name} has "
                                      f"{len(self.names)}; the label sets do not match")
        self.miou.process(ground_truth(self.dataset, sample), labels)

    def evaluate(self) -> dict[str, float]:
        result = self.miou.evaluate()
        return {k: result[k] for k in ("mIoU", "pixel_acc", "mean_acc")}


def evaluator(dataset: Dataset, config: RunConfig) -> MiouEvaluator:
    return MiouEvaluator(dataset, config)
