"""Monocular depth on NYU Depth v2 pairs (``--depth-root``: image_K.png with depth_K.png in millimetres).

Metric models are scored as they are (metres, no alignment); relative (inverse-depth) models
after a per-image least-squares scale and shift in inverse depth, as Depth Anything reports.
Depth is capped at 10 m, NYU's range. Predictions: 16-bit PNGs in millimetres (metric) or
``.npy`` float32 (relative) under ``<pred_dir>/depth/``.
"""
from __future__ import annotations

import re
from typing import Any

import cv2
import numpy as np

import seglab
from seglab.formats import read_depth_png
from seglab.metrics import DepthEvaluator
from seglab.metrics.depth import DEPTH_KEYS

from . import BenchmarkInputError, Dataset, RunConfig, Sample, TaskContext

REGISTRY_TASK = "depth"
DATASETS = ("nyu",)
NAME = "nyu-depth-v2"
MAX_DEPTH = 10.0


def load(config: RunConfig) -> Dataset:
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


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> dict[str, Any]:
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
    return {"file_name": name, "kind": depth.kind, "focal_length_px": depth.focal_length_px}


def score(records: list[dict], dataset: Dataset, config: RunConfig) -> dict[str, float]:
    kinds = {r["prediction"]["kind"] for r in records}
    evaluator = DepthEvaluator(max_depth=MAX_DEPTH, align="scale_shift" if "relative" in kinds else None)
    samples = {s.key: s for s in dataset.samples}
    for r in records:
        path = f"{r['pred_dir']}/depth/{r['prediction']['file_name']}"
        pred = read_depth_png(path) if r["prediction"]["kind"] == "metric" else np.load(path)
        evaluator.process(read_depth_png(samples[r["key"]].target), pred)
    result = evaluator.result()
    return {k: result[k] for k in DEPTH_KEYS}
