"""Semantic segmentation: mIoU on COCO val2017 or on a data set in its own layout (``--dataset ade20k|cityscapes|
mapillary|gta5 --root DIR``).

The ground truth follows the label set of the model's registry entry (``spec.labels``): on COCO,
``voc-21`` models (torchvision's FCN / DeepLabV3) are scored on torchvision's VOC subset of the
instance annotations (``coco-val2017-voc``) and ``coco-panoptic-133`` models on the 133-class semantic
map of the panoptic annotations (``coco-val2017``); another data set scores the models of the label
set it names (ADE20K: ``ade20k-150``, Cityscapes and GTA5: ``cityscapes-19``, Mapillary Vistas v1.2:
``mapillary-vistas-65``). Another model runs only with ``--random-init`` (latency, no score). Predictions
are label PNGs under ``<pred_dir>/semantic/``.

A model whose protocol is scored at the resized size (``scored_at="resized"``: torchvision's, whose reference
``train.py`` evaluates at short side 520) predicts at that size and its ground truth is resized to it,
nearest neighbour on a PIL image as the reference's ``F.resize(target, size, NEAREST)`` does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

import seglab
from seglab import PanopticMap
from seglab.datasets import SemanticDataset, get_label_set, load_semantic_dataset
from seglab.formats import read_label_png, write_label_png
from seglab.metrics import SemanticEvaluator, coco_to_voc_labels, panoptic_semantic_classes, panoptic_to_semantic
from seglab.protocols import get_protocol

from . import BenchmarkInputError, Dataset, Prediction, RunConfig, Sample, TaskContext
from .coco import NAME, image_path, instances, panoptic

REGISTRY_TASK = "semantic"
DATASETS = ("coco", "ade20k", "cityscapes", "mapillary", "gta5", "carla", "habitat")


@dataclass(frozen=True)
class VocTruth:
    """torchvision's VOC-21 label maps, built from the COCO instance annotations (a ``pycocotools`` COCO)."""

    coco: Any
    class_names: tuple[str, ...]

    def labels(self, sample: Sample) -> np.ndarray:
        img = self.coco.imgs[sample.image_id]
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[sample.image_id]))
        return coco_to_voc_labels(anns, img["height"], img["width"])


@dataclass(frozen=True)
class PanopticTruth:
    """The semantic map of COCO panoptic annotations (JSON parsed + PNG folder), one class per category."""

    data: dict
    folder: Path
    class_names: tuple[str, ...]

    def labels(self, sample: Sample) -> np.ndarray:
        rgb = cv2.cvtColor(cv2.imread(str(self.folder / sample.target["file_name"])), cv2.COLOR_BGR2RGB)
        pan = PanopticMap.from_coco_panoptic(rgb, sample.target["segments_info"],
                                             {c["id"]: c for c in self.data["categories"]})
        return panoptic_to_semantic(pan, self.data["categories"]).labels


@dataclass(frozen=True)
class FolderTruth:
    """The train-id label images of a data set in its own layout (``seglab.datasets``)."""

    dataset: SemanticDataset

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.dataset.class_names

    def labels(self, sample: Sample) -> np.ndarray:
        return self.dataset.load_label(sample.target)


def load(config: RunConfig) -> Dataset:
    """The data set's samples and its ground truth (``Dataset.gt``: one of the ``*Truth`` records above)."""
    spec = seglab.get_spec(config.model)
    if config.dataset != "coco":
        return _folder(config, spec.labels)
    labels = get_label_set(spec.labels)
    if labels.dataset == "voc":
        gt = instances(config)
        samples = tuple(Sample(str(im["id"]), image_path(config, im["file_name"]), im["id"])
                        for im in gt.dataset["images"])
        return Dataset(f"{NAME}-voc", samples, VocTruth(gt, labels.names),
                       note="21 VOC classes from the COCO instances, as torchvision's reference scripts build them")
    if labels.dataset != "coco" and not config.random_init:
        raise BenchmarkInputError(f"{spec.id} predicts its own label set, not coco's ({labels.name}); score it on "
                                  "its data set (--dataset ... --root DIR) or measure latency with --random-init")
    data, folder = panoptic(config)
    names, _ = panoptic_semantic_classes(data["categories"])
    files = {im["id"]: im["file_name"] for im in data["images"]}
    samples = tuple(Sample(str(a["image_id"]), image_path(config, files[a["image_id"]]), a["image_id"], a)
                    for a in data["annotations"] if a["image_id"] in files)
    return Dataset(NAME, samples, PanopticTruth(data, folder, tuple(names)),
                   note="133 COCO panoptic classes (semantic map of the panoptic annotations)")


def _folder(config: RunConfig, model_labels: str) -> Dataset:
    if config.root is None:
        raise BenchmarkInputError(f"--dataset {config.dataset} needs --root, the data set's folder")
    ds = load_semantic_dataset(config.dataset, config.root)
    if model_labels != ds.label_set and not config.random_init:
        what = ds.label_set or f"its own {ds.num_classes} classes"
        raise BenchmarkInputError(f"{config.model} predicts the {model_labels} label set but {ds.benchmark_name} is "
                                  f"labelled with {what}; score it on its data set or measure latency with "
                                  "--random-init")
    samples = tuple(Sample(s.image_id, s.image_path, s.image_id, s) for s in ds.samples)
    return Dataset(ds.benchmark_name, samples, FolderTruth(ds), note=ds.note)


def scored_resized(model_id: str) -> bool:
    """Whether the model's protocol scores at the resized size rather than the image's."""
    return get_protocol(seglab.get_spec(model_id).protocol).scored_at == "resized"


def resize_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``labels`` at ``size`` (h, w), PIL's nearest neighbour (torchvision's reference resizes PIL targets)."""
    h, w = size
    return np.asarray(Image.fromarray(labels.astype(np.int32)).resize((w, h), Image.NEAREST))


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """The label PNG's name and the model's number of classes; the output is (labels, number of classes)."""
    sem = seglab.predict(model, image, **({"resized": True} if scored_resized(model.spec.id) else {}))
    name = f"{sample.key}.png".replace("/", "_")
    write_label_png(context.pred_dir / "semantic" / name, sem)
    return Prediction({"file_name": name, "num_classes": len(sem.class_names)}, (sem.labels, len(sem.class_names)))


def read(record: dict, sample: Sample, context: TaskContext) -> tuple[np.ndarray, int]:
    """(labels, number of classes) of a saved prediction."""
    pred = record["prediction"]
    return read_label_png(context.pred_dir / "semantic" / pred["file_name"]), pred["num_classes"]


class MiouEvaluator:
    """mIoU, pixel and mean accuracy against the data set's ground truth (resized to the prediction when the
    model's protocol scores at the resized size); a model of another label set is refused."""

    def __init__(self, dataset: Dataset, config: RunConfig) -> None:
        self.dataset, self.model = dataset, config.model
        self.resized = scored_resized(config.model)
        self.truth: VocTruth | PanopticTruth | FolderTruth = dataset.gt
        self.names = self.truth.class_names
        self.reset()

    def reset(self) -> None:
        self.miou = SemanticEvaluator(len(self.names), self.names)

    def process(self, sample: Sample, output: tuple[np.ndarray, int]) -> None:
        labels, num_classes = output
        if num_classes != len(self.names):
            raise BenchmarkInputError(f"{self.model} predicts {num_classes} classes but {self.dataset.name} has "
                                      f"{len(self.names)}; the label sets do not match")
        truth = self.truth.labels(sample)
        if self.resized:
            truth = resize_nearest(truth, labels.shape)
        self.miou.process(truth, labels)

    def evaluate(self) -> dict[str, float]:
        result = self.miou.evaluate()
        return {k: result[k] for k in ("mIoU", "pixel_acc", "mean_acc")}


def evaluator(dataset: Dataset, config: RunConfig) -> MiouEvaluator:
    return MiouEvaluator(dataset, config)
