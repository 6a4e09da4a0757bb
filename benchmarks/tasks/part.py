"""Part segmentation: face parts on CelebAMask-HQ (``--dataset celebamask-hq --root DIR``), mIoU and F1 per part.

Each image is scored at its data set's ``eval_size`` when that differs from its own (CelebAMask-HQ: its
1024 x 1024 faces are resized to the 512 x 512 of their annotations, as the official face-parsing tester feeds
them); the model's registry label set must be the data set's. Metrics: mIoU and pixel accuracy over every
class, the data set's F1 of each part and their mean over the parts (background left out, as face-parsing
papers report it). Predictions are label PNGs under ``<pred_dir>/part/``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

import seglab
from seglab.datasets import SemanticDataset, load_semantic_dataset
from seglab.formats import read_label_png, write_label_png
from seglab.metrics import SemanticEvaluator

from . import BenchmarkInputError, Dataset, Prediction, RunConfig, Sample, TaskContext

REGISTRY_TASK = "part"
DATASETS = ("celebamask-hq",)
BACKGROUND = "background"


def load(config: RunConfig) -> Dataset:
    if config.root is None:
        raise BenchmarkInputError(f"--dataset {config.dataset} needs --root, the data set's folder")
    ds = load_semantic_dataset(config.dataset, config.root)
    spec = seglab.get_spec(config.model)
    if spec.labels != ds.label_set and not config.random_init:
        raise BenchmarkInputError(f"{spec.id} predicts the {spec.labels} parts but {ds.benchmark_name} is labelled "
                                  f"with {ds.label_set}; score it on its own data set or time it with --random-init")
    samples = tuple(Sample(s.image_id, s.image_path, s.image_id, s) for s in ds.samples)
    return Dataset(ds.benchmark_name, samples, ds, note=ds.note)


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """The label PNG's name; the output is the labels at the data set's evaluation size."""
    size = context.dataset.gt.eval_size
    if size and image.shape[:2] != size:
        image = np.array(Image.fromarray(image).resize(size[::-1], Image.BILINEAR))
    parts = seglab.predict(model, image)
    name = f"{sample.key}.png".replace("/", "_")
    write_label_png(context.pred_dir / "part" / name, parts)
    return Prediction({"file_name": name}, parts.labels)


def read(record: dict, sample: Sample, context: TaskContext) -> np.ndarray:
    return read_label_png(context.pred_dir / "part" / record["prediction"]["file_name"])


class PartEvaluator:
    """mIoU, pixel accuracy, per-part F1 and their mean (mF1, background left out) over the images processed."""

    def __init__(self, dataset: Dataset) -> None:
        self.ds: SemanticDataset = dataset.gt
        self.reset()

    def reset(self) -> None:
        self.miou = SemanticEvaluator(self.ds.num_classes, self.ds.class_names, self.ds.ignore_index)

    def process(self, sample: Sample, labels: np.ndarray) -> None:
        self.miou.process(self.ds.load_label(sample.target), labels)

    def evaluate(self) -> dict[str, float]:
        result = self.miou.evaluate()
        parts = [v for name, v in result["F1"].items() if name != BACKGROUND and np.isfinite(v)]
        per_part = {f"F1 {name}": v for name, v in result["F1"].items() if name != BACKGROUND}
        return {"mIoU": result["mIoU"], "pixel_acc": result["pixel_acc"],
                "mF1": float(np.mean(parts)) if parts else float("nan"), **per_part}


def evaluator(dataset: Dataset, config: RunConfig) -> PartEvaluator:
    return PartEvaluator(dataset)
