"""Monocular depth on NYU Depth v2 pairs (``--depth-root``: image_K.png with depth_K.png in millimetres), or on
a simulator's recording (``--dataset carla|habitat --root DIR``, read by ``seglab.datasets.load_depth_dataset``).

Metric models are scored as they are (metres, no alignment); relative (inverse-depth) models
after a per-image least-squares scale and shift in inverse depth, as Depth Anything reports.
Depth is capped at 10 m on NYU (its range) and at the recording loader's ``max_depth`` elsewhere.
Predictions: 16-bit PNGs in millimetres (metric) or ``.npy`` float32 (relative) under ``<pred_dir>/depth/``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

import seglab
from seglab import DepthMap
from seglab.datasets import DEPTH_DATASETS, DepthDataset, load_depth_dataset
from seglab.formats import read_depth_png
from seglab.metrics import DepthEvaluator
from seglab.metrics.depth import DEPTH_KEYS

from . import BenchmarkInputError, Dataset, Prediction, RunConfig, Sample, TaskContext

REGISTRY_TASK = "depth"
DATASETS = ("nyu", *DEPTH_DATASETS)
NAME = "nyu-depth-v2"
MAX_DEPTH = 10.0


def load(config: RunConfig) -> Dataset:
    """NYU's pairs (``Dataset.gt``: the folder), or a recording's (``Dataset.gt``: its :class:`DepthDataset`)."""
    if config.dataset != "nyu":
        return _recording(config)
    root = config.depth_root
    if root is None or not root.is_dir():
        raise BenchmarkInputError(f"no NYU depth folder at {root}: give --depth-root with image_K.png / depth_K.png")
    images = sorted(root.glob("image_*.png"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    samples = []
    for path in images:
        depth = path.with_name(path.name.replace("image_", "depth_", 1))
        if not depth.is_file():
            raise BenchmarkInputError(f"{path.name} has no ground truth {depth.name} in {root}")
        samples.append(Sample(path.stem, path, path.stem, depth))
    if not samples:
        raise BenchmarkInputError(f"{root} holds no image_K.png / depth_K.png pairs")
    return Dataset(NAME, tuple(samples), root, note="NYU Depth v2 test pairs, depth capped at 10 m; relative "
                   "models aligned per image (scale and shift in inverse depth)")


def _recording(config: RunConfig) -> Dataset:
    if config.root is None:
        raise BenchmarkInputError(f"--dataset {config.dataset} needs --root, the recording's folder")
    ds = load_depth_dataset(config.dataset, config.root)
    samples = tuple(Sample(s.image_id, s.image_path, s.image_id, s) for s in ds.samples)
    return Dataset(ds.benchmark_name, samples, ds, note=ds.note)


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """The depth file's name, kind and focal length; the output is the :class:`~seglab.DepthMap`."""
    depth = seglab.predict(model, image)
    folder = context.pred_dir / "depth"
    folder.mkdir(exist_ok=True)
    if depth.kind == "metric":
        name = f"{sample.key}.png"
        if not cv2.imwrite(str(folder / name), depth.to_png16()):
            raise OSError(f"could not write {folder / name}")
    else:
        name = f"{sample.key}.npy"
        np.save(folder / name, depth.depth)
    return Prediction({"file_name": name, "kind": depth.kind, "focal_length_px": depth.focal_length_px}, depth)


def read(record: dict, sample: Sample, context: TaskContext) -> DepthMap:
    """The depth map a record's file holds (16-bit millimetres when metric, float32 ``.npy`` when relative)."""
    pred = record["prediction"]
    path = context.pred_dir / "depth" / pred["file_name"]
    depth = read_depth_png(path) if pred["kind"] == "metric" else np.load(path)
    return DepthMap(depth, pred["kind"], pred.get("focal_length_px"))


class PairsEvaluator:
    """The depth metrics averaged over images against ``truth(sample)`` (metres) up to ``max_depth``; relative
    models are aligned (scale and shift in inverse depth) once the first relative prediction arrives."""

    def __init__(self, truth: Callable[[Sample], np.ndarray], max_depth: float) -> None:
        self.truth, self.max_depth = truth, max_depth
        self.reset()

    def reset(self) -> None:
        self.depth = DepthEvaluator(max_depth=self.max_depth)

    def process(self, sample: Sample, pred: DepthMap) -> None:
        if pred.kind == "relative":
            self.depth.align = "scale_shift"
        self.depth.process(self.truth(sample), pred, image=sample.key)

    def evaluate(self) -> dict[str, float]:
        result = self.depth.evaluate()
        return {k: result[k] for k in DEPTH_KEYS}


def evaluator(dataset: Dataset, config: RunConfig) -> PairsEvaluator:
    recording = dataset.gt
    if not isinstance(recording, DepthDataset):  # NYU: the target is the millimetre PNG
        return PairsEvaluator(lambda sample: read_depth_png(sample.target), MAX_DEPTH)
    return PairsEvaluator(lambda sample: recording.load_depth(sample.target), recording.max_depth)
