"""Running one model over this rank's share of a data set: per-image seeding, timing, a record per image,
and the rank-0 evaluator fed as images finish (then with the records it did not see, read back)."""
from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from tqdm import tqdm

import seglab
from benchmarks import distributed
from benchmarks.records import open_records, read_records, shard_todo, write_record
from benchmarks.tasks import (BenchmarkInputError, Dataset, Prediction, RunConfig, Sample, TaskContext, ok_records,
                              read_prediction)
from seglab.metrics.latency import ForwardTimer, Timer, peak_memory_mb, reset_peak_memory
from seglab.protocols import list_protocols
from seglab.report import BASELINE, OFFLINE, RANDOM


@dataclass(frozen=True)
class Session:
    """This process's part in a run: its rank among ``world``, the run's id, a temporary folder."""

    rank: int
    world: int
    run_id: str
    tmp: Path


@dataclass
class ModelRun:
    """What running one model left behind: where its records are, load time, weights, and on rank 0 the
    evaluator and the keys already streamed into it."""

    pred_dir: Path
    weights: str
    protocol: str  # the id of the test protocol it ran (seglab.protocols)
    load_s: float | None = None
    evaluator: Any = None
    streamed: set[str] = field(default_factory=set)


def run_name(config: RunConfig) -> str:
    """The results' ``model`` column and prediction folder: the registry id, marked when the weights are random
    (so random-init and pretrained runs of one model neither replace nor resume each other)."""
    return f"{config.model} (random-init)" if config.random_init else config.model


def run_protocol(task: ModuleType, config: RunConfig) -> str:
    """The id of the protocol a run follows (``seglab.protocols``): the task's own choice (``task.protocol(config)``,
    e.g. the promptable prompts), else the model's (``ModelSpec.protocol``), else its task's only protocol
    (interactive: ``coco-gt-clicks``); '' when none is known."""
    if hasattr(task, "protocol"):
        return task.protocol(config)
    only = [p.id for p in list_protocols(config.task)]
    return seglab.get_spec(config.model).protocol or (only[0] if len(only) == 1 else "")


def prediction_folder(task: ModuleType, config: RunConfig) -> str:
    """The folder of a run's records below ``predictions/<model>/``: the task's ``prediction_folder(config)`` where
    it runs several protocols (so that --resume never mixes two protocols' records), else the task's name."""
    return task.prediction_folder(config) if hasattr(task, "prediction_folder") else config.task


def weights_label(spec: seglab.ModelSpec, random_init: bool) -> str:
    """The results' ``weights`` column."""
    if spec.source == "embedded":
        return OFFLINE if spec.family == "embedded" else BASELINE
    return RANDOM if random_init else "pretrained"


def seed(key: str) -> None:
    """Per-image seeding, so results do not depend on sharding or resume order (GrabCut, sampling...)."""
    import cv2
    import torch

    s = zlib.crc32(key.encode()) & 0x7FFFFFFF  # cv2.setRNGSeed takes a C int
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    cv2.setRNGSeed(s)


def check_models(task: ModuleType, config: RunConfig, model_ids: list[str]) -> None:
    """Every id is in the registry, does the task and, with --random-init, has downloadable weights to replace
    (raises before anything runs)."""
    for model_id in model_ids:
        spec = seglab.get_spec(model_id)
        if spec.task != task.REGISTRY_TASK:
            raise seglab.UnsupportedTaskError(
                f"{model_id} is a {spec.task} model; the {config.task} benchmark needs a {task.REGISTRY_TASK} model")
        if config.random_init and spec.source == "embedded":
            raise BenchmarkInputError(f"{model_id} ships its weights inside seglab; run it without --random-init")


def load_dataset(task: ModuleType, config: RunConfig) -> Dataset:
    """The task's data set for ``config.model``, cut to ``--limit``."""
    dataset = task.load(config)
    if config.limit:
        dataset = replace(dataset, samples=dataset.samples[:config.limit])
    if not dataset.samples:
        raise BenchmarkInputError(f"{dataset.name} has no image to run for the {config.task} benchmark")
    return dataset


def load_adapter(spec: seglab.ModelSpec, config: RunConfig, tmp: Path) -> Any:
    """The loaded model: pretrained (cache or ``--weights``), embedded, or random-init built into ``tmp``."""
    location = config.weights.get(spec.id)
    if config.random_init and spec.source != "embedded":
        from benchmarks.random_init import save_random_weights

        location = save_random_weights(spec, tmp / spec.id)
    return seglab.load_model(spec.id, device=config.device, dtype=config.dtype, location=location)


def prediction_dir(config: RunConfig, rank: int, folder: str = "") -> Path:
    """``OUT/predictions/<model>/<folder>`` (the task's name unless the task names another, see
    :func:`prediction_folder`), checked on rank 0: earlier predictions need --resume or --rescore."""
    pred_dir = config.out / "predictions" / run_name(config) / (folder or config.task)
    if rank == 0:
        pred_dir.mkdir(parents=True, exist_ok=True)
        existing = [p for p in pred_dir.glob("rank*.jsonl") if p.stat().st_size]
        if existing and not (config.resume or config.rescore):
            raise BenchmarkInputError(f"{pred_dir} already holds predictions; pass --resume to continue them, "
                                      f"--rescore to score them, or choose another --out")
    distributed.barrier()
    return pred_dir


def run_model(task: ModuleType, dataset: Dataset, config: RunConfig, session: Session) -> ModelRun:
    """Run ``config.model`` over this rank's share of the images not done yet, writing a record per image; on
    rank 0 each successful output also goes straight into the task's evaluator (unless the weights are random)."""
    spec = seglab.get_spec(config.model)
    pred_dir = prediction_dir(config, session.rank, prediction_folder(task, config))
    run = ModelRun(pred_dir, weights_label(spec, config.random_init), run_protocol(task, config))
    if session.rank == 0 and not config.random_init:
        run.evaluator = task.evaluator(dataset, config)
    if config.rescore:
        return run
    t_load = time.perf_counter()
    adapter = load_adapter(spec, config, session.tmp)
    run.load_s = time.perf_counter() - t_load
    done = {r["key"] for r in read_records(run.pred_dir) if r.get("ok")}
    todo = shard_todo(dataset.samples, done, session.rank, session.world)
    context = TaskContext(config, dataset, run.pred_dir)
    timer = ForwardTimer(adapter, config.device)
    cold = True
    with open_records(run.pred_dir / f"rank{session.rank}.jsonl") as out, \
            tqdm(todo, desc=f"{config.model} [{session.rank}/{session.world}]", unit="img",
                 disable=session.rank != 0, dynamic_ncols=True) as bar:
        for sample in bar:
            record, prediction = run_one(adapter, task, sample, context, timer, cold)
            write_record(out, {**record, "run_id": session.run_id, "rank": session.rank})
            cold = cold and not record["ok"]
            if prediction is not None and run.evaluator is not None:
                run.evaluator.process(sample, prediction.output)
                run.streamed.add(sample.key)
    timer.close()
    return run


def run_one(adapter: Any, task: ModuleType, sample: Sample, context: TaskContext, timer: ForwardTimer,
            cold: bool) -> tuple[dict, Prediction | None]:
    """One image: its record (prediction and timings, or the error: the run goes on) and the task's output."""
    device = context.config.device
    record: dict[str, Any] = {"key": sample.key, "image_id": sample.image_id, "file_name": sample.image_path.name}
    seed(sample.key)
    reset_peak_memory(device)
    timer.reset()
    wall0 = time.time()
    try:
        with Timer(device) as e2e:
            image = seglab.load_image(sample.image_path)
            prediction = task.run(adapter, image, sample, context)
    except Exception as err:  # noqa: BLE001 - any failure on one image is recorded and the run goes on
        return {**record, "ok": False, "error": f"{type(err).__name__}: {err}"}, None
    return {**record, "ok": True, "prediction": prediction.record, "latency_ms": e2e.ms,
            "forward_ms": timer.total_ms if timer.found else None, "cold": cold,
            "peak_mem_mb": peak_memory_mb(device), "t_start": wall0, "t_end": time.time()}, prediction


def score(task: ModuleType, dataset: Dataset, config: RunConfig, run: ModelRun, records: list[dict]) -> dict:
    """The metrics of the successful records (none with random weights): the records this process did not
    stream (other ranks', earlier sessions', ``--rescore``) are read back into the evaluator first."""
    ok = ok_records(records)
    if run.evaluator is None or not ok:
        return {}
    samples = {s.key: s for s in dataset.samples}
    context = TaskContext(config, dataset, run.pred_dir)
    for record in ok:
        if record["key"] not in run.streamed:
            sample = samples[record["key"]]
            run.evaluator.process(sample, read_prediction(task, record, sample, context))
    return run.evaluator.evaluate()
