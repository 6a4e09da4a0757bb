"""Benchmark tasks: the small protocol between ``benchmarks.run`` and one task, so adding a task is one module.

The runner owns everything that is the same for every task: loading models, sharding
samples over torchrun ranks, timing and memory, writing one JSON line per image
(flushed, so a crash loses nothing finished), ``--resume``, failures, and the results
table. A task module owns only what differs, as these module-level names:

``REGISTRY_TASK: str``
    the registry task its models must have (``"promptable"`` for both the promptable
    and the interactive task).

``DATASETS: tuple[str, ...]``
    the ``--dataset`` values it runs on, the first being the default.

``load(config: RunConfig) -> Dataset``
    reads the ground truth named by the command line (``config.coco_root``,
    ``config.depth_root``, or ``config.dataset`` + ``config.root`` through
    ``seglab.datasets.load_semantic_dataset``; ``config.model`` is the model about to run) and lists the
    :class:`Sample` s to run,
    in a fixed order (the runner applies ``--limit`` and sharding). Missing or malformed
    files raise :class:`BenchmarkInputError` (a :class:`seglab.SeglabError`) with one
    clear sentence; the runner prints it and exits with code 2.

``run(model, image, sample: Sample, context: TaskContext) -> Prediction``
    runs one loaded model (``seglab.load_model``) on one decoded image through
    ``seglab.predict`` and returns a :class:`Prediction`: the JSON-serialisable ``record`` in
    COCO format (``Masks.to_coco`` entries, ``PanopticMap.to_coco_panoptic`` segments_info, ...) and
    the ``output`` its evaluator takes. Large arrays go to files under ``context.pred_dir`` (a PNG per
    image) named in the record. Raising any exception makes the image a failure record; the run goes on.

``read(record: dict, sample: Sample, context: TaskContext) -> Any``
    the ``output`` of a record written earlier (``--resume``, ``--rescore``, another rank's images):
    decodes its side files. Optional when the output is the record's ``prediction`` itself.

``evaluator(dataset: Dataset, config: RunConfig) -> Evaluator``
    the task's streaming scorer, detectron2's protocol over ``seglab.metrics``' evaluators:
    ``reset()``, ``process(sample, output)`` per image, ``evaluate() -> dict[str, float]`` with
    metrics under their usual names (``"AR@100"``, ``"AP"``, ``"PQ"``, ``"mIoU"``, ``"delta1"``, ...).
    On rank 0 the runner streams each fresh output into it as the image finishes (a fresh run never
    decodes what it just encoded), and the other ranks' and earlier runs' records through ``read``
    once all ranks are done. Not called with ``--random-init`` (random weights are not scored).

and optionally ``add_arguments(parser)`` for task-specific flags (read back from
``config.options``); ``protocol(config) -> str``, the id (``seglab.protocols``) of the protocol the
flags choose (else the runner records the model's ``ModelSpec.protocol``, or the task's only protocol);
and ``prediction_folder(config) -> str``, the records' folder of each protocol (default: the task's
name). Every results row names its protocol; results for the same model x task x dataset x protocol
replace earlier ones.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from seglab import SeglabError

# task name -> module (imported lazily, so one task's missing dependency does not break the others)
TASKS: dict[str, str] = {
    "promptable": "benchmarks.tasks.promptable",
    "instance": "benchmarks.tasks.instance",
    "panoptic": "benchmarks.tasks.panoptic",
    "semantic": "benchmarks.tasks.semantic",
    "part": "benchmarks.tasks.part",
    "depth": "benchmarks.tasks.depth",
    "interactive": "benchmarks.tasks.interactive",
}


class BenchmarkInputError(SeglabError):
    """The benchmark's input (annotation files, data folders, options) is missing or malformed."""


@dataclass(frozen=True)
class RunConfig:
    """The parsed command line, as every task sees it."""

    task: str
    model: str = ""  # the registry id being run (set by the runner before ``load``: ground truth may depend on it)
    coco_root: Path | None = None
    depth_root: Path | None = None
    dataset: str = "coco"  # coco | ade20k | cityscapes | mapillary | gta5 | nyu
    root: Path | None = None  # the data set's folder when it is not COCO
    limit: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 1
    random_init: bool = False  # weights are random: only latency means something, scoring is skipped
    options: dict[str, Any] = field(default_factory=dict)  # task-specific flags (add_arguments)
    out: Path = Path("results")  # the results folder (predictions/, results.csv, ...)
    weights: dict[str, Path] = field(default_factory=dict)  # model id -> local weights (``--weights``, ``--location``)
    resume: bool = False  # skip images already in the prediction files
    rescore: bool = False  # score the saved predictions without running the model


@dataclass(frozen=True)
class Prediction:
    """What a task's ``run`` returns: the JSON ``record`` written for ``--resume`` and the ``output`` its evaluator
    takes (the decoded arrays, so scoring a fresh run reads no file back)."""

    record: Any
    output: Any


@dataclass(frozen=True)
class Sample:
    """One image to run. ``key`` is unique in the data set and names the image in the prediction files
    (resume skips keys already written); ``target`` is whatever the task needs at prediction time
    (e.g. the ground-truth boxes it prompts with)."""

    key: str
    image_path: Path
    image_id: int | str
    target: Any = None


@dataclass(frozen=True)
class Dataset:
    """Ground truth and samples of one data set split. ``name`` is the results' ``dataset`` column and
    matches the registry's ``Published.dataset`` (e.g. ``"coco-val2017"``); ``gt`` is the task's
    ground-truth object (a ``pycocotools.coco.COCO``, a data set loader, ...); ``note`` says how it
    is evaluated."""

    name: str
    samples: tuple[Sample, ...]
    gt: Any = None
    note: str = ""


@dataclass(frozen=True)
class TaskContext:
    """What ``run`` gets besides the model and the image."""

    config: RunConfig
    dataset: Dataset
    pred_dir: Path  # RESULTS_DIR/predictions/<model>/<task>/ : side files (PNGs) go here


def get_task(name: str) -> ModuleType:
    """The task module for ``name``; :class:`BenchmarkInputError` for an unknown or not yet installed task."""
    if name not in TASKS:
        raise BenchmarkInputError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    try:
        return importlib.import_module(TASKS[name])
    except ModuleNotFoundError as e:
        if e.name == TASKS[name]:
            raise BenchmarkInputError(f"the {name!r} benchmark task is not available in this checkout") from None
        raise


def read_prediction(task: ModuleType, record: dict, sample: Sample, context: TaskContext) -> Any:
    """The evaluator's output of a saved record: the task's ``read``, or the record's prediction itself."""
    return task.read(record, sample, context) if hasattr(task, "read") else record["prediction"]


def ok_records(records: list[dict]) -> list[dict]:
    """The successful records, one per key (the last written wins)."""
    return list({r["key"]: r for r in records if r.get("ok")}.values())
