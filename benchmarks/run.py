"""Benchmark registry models on COCO val2017 (or NYU, or a driving data set): metrics, latency, memory.

    python -m benchmarks.run --models embedded-u2netp-grabcut --task promptable \\
        --coco-root ../shared/data/coco-val2017-mini --limit 10 --out results-local
    torchrun --nproc-per-node 2 -m benchmarks.run ...   # shards images over ranks (gloo on CPU, nccl on GPU)

Per image, one JSON line is appended (and flushed) to
``OUT/predictions/<model>/<task>/rank<R>.jsonl``: the COCO-format prediction, its
latencies and peak memory, or the error. ``--resume`` skips images already written;
``--rescore`` scores saved predictions again. Rank 0 scores once all ranks are done,
through the task module's ``score`` (``seglab.metrics``), and writes one row per
model x task x dataset to ``OUT/results.csv`` / ``results.json`` and per-image latencies
to ``OUT/latency.csv``. ``OUT`` must be a folder every rank can read (shared file system).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
import zlib
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import seglab
from benchmarks.tasks import TASKS, BenchmarkInputError, RunConfig, TaskContext, get_task, ok_records
from seglab.metrics.latency import Timer
from seglab.models.base import resolve_device
from seglab.report import OFFLINE, RANDOM, update_results

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DEPTH_ROOT = REPO.parent / "shared" / "data" / "nyu-depth-v2-mini"
TIMING_METHOD = (
    "time.perf_counter per image; e2e = decode + pre-processing + forward + post-processing + COCO encoding; "
    "forward = torch forward hooks / onnxruntime run around the network only; warm = every image but each "
    "process's first (cold, reported apart); torch.cuda.synchronize before every clock read on GPU; "
    "peak memory = torch.cuda.max_memory_allocated per image on GPU, peak process RSS on CPU; "
    "images/s = successful images / wall time of the latest session over all ranks")


# ----------------------------------------------------------------------------- command line

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with the chosen task's own flags (its ``add_arguments``) also in ``args.task_options``."""
    task_flags = argparse.ArgumentParser(add_help=False)
    name = _task_name(argv)
    if name in TASKS and hasattr(task := get_task(name), "add_arguments"):
        task.add_arguments(task_flags.add_argument_group(f"{name} options"))
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0],
                                parents=[task_flags],
                                epilog="task-specific options: python -m benchmarks.run --task NAME --help")
    p.add_argument("--models", required=True, help="registry ids, comma separated")
    p.add_argument("--task", required=True, help="promptable, semantic, instance, panoptic, depth or interactive")
    p.add_argument("--coco-root", type=Path, help="COCO 2017 folder: val2017/ and annotations/")
    p.add_argument("--depth-root", type=Path, default=DEFAULT_DEPTH_ROOT, help="NYU pairs image_K.png / depth_K.png")
    p.add_argument("--dataset", default=None,
                   help="coco (the default); semantic: also cityscapes, mapillary, gta5; panoptic: also cityscapes; "
                        "depth: nyu (its default)")
    p.add_argument("--root", type=Path, help="the data set's folder when --dataset is not coco")
    p.add_argument("--limit", type=int, help="only the first N images")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--batch-size", type=int, default=1, help="promptable: box prompts per forward call")
    p.add_argument("--prompt", default="box", choices=["box", "center-point"],
                   help="promptable: the prompt per instance")
    p.add_argument("--everything", action="store_true", help="promptable: score segment-everything proposals")
    p.add_argument("--random-init", action="store_true",
                   help="real architecture with random weights (latency only; accuracy is meaningless)")
    p.add_argument("--location", type=Path, help="load weights from this local folder/file instead of the cache")
    p.add_argument("--resume", action="store_true", help="continue: skip images already in the prediction files")
    p.add_argument("--rescore", action="store_true", help="score the saved predictions without running the model")
    p.add_argument("--out", type=Path, required=True, help="results folder")
    args = p.parse_args(argv)
    args.task_options = {k: getattr(args, k) for k in vars(task_flags.parse_args([]))}
    return args


def _task_name(argv: list[str] | None) -> str | None:
    """The --task value, read before the full parser is built (it adds that task's flags)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task")
    return pre.parse_known_args(argv)[0].task


def make_config(args: argparse.Namespace, task: Any) -> RunConfig:
    if args.limit is not None and args.limit < 1:
        raise BenchmarkInputError("--limit must be a positive number of images")
    if args.batch_size < 1:
        raise BenchmarkInputError("--batch-size must be at least 1")
    if args.batch_size > 1 and args.task != "promptable":
        raise BenchmarkInputError("--batch-size > 1 applies to promptable box prompts only; seglab.predict "
                                  "takes one image at a time")
    dataset = args.dataset or task.DATASETS[0]
    if dataset not in task.DATASETS:
        raise BenchmarkInputError(f"the {args.task} benchmark runs on {' or '.join(task.DATASETS)}, "
                                  f"not --dataset {dataset}")
    options = {"prompt": args.prompt, "everything": args.everything, **args.task_options}
    return RunConfig(task=args.task, coco_root=args.coco_root, depth_root=args.depth_root, dataset=dataset,
                     root=args.root, limit=args.limit, device=resolve_device(args.device),
                     dtype=args.dtype, batch_size=args.batch_size, random_init=args.random_init, options=options)


# ----------------------------------------------------------------------------- distributed

def dist_init() -> tuple[int, int]:
    """(rank, world size): from torchrun's environment, else (0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if _cuda() else "gloo"
        dist.init_process_group(backend)
        if backend == "nccl":
            import torch

            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast(value: Any) -> Any:
    """rank 0's value on every rank."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# ----------------------------------------------------------------------------- timing

def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class ForwardTimer:
    """Times the network alone: forward hooks on the adapter's outermost torch modules and their direct
    children (adapters call parts such as SAM's ``vision_encoder`` on their own; nested calls count once), and
    the ``run`` of its onnxruntime sessions; ``total_ms`` sums them for the current image."""

    def __init__(self, adapter: Any, device: str) -> None:
        self.device, self.total_ms, self._t0, self._depth = device, 0.0, 0.0, 0
        self._handles: list[Any] = []
        self._sessions: list[tuple[str, Any]] = []
        import torch

        attrs = vars(adapter) if hasattr(adapter, "__dict__") else {}
        modules = [m for m in attrs.values() if isinstance(m, torch.nn.Module)]
        inner = {id(s) for m in modules for s in m.modules() if s is not m}
        for m in (m for m in modules if id(m) not in inner):
            for part in (m, *m.children()):
                self._handles += [part.register_forward_pre_hook(self._start), part.register_forward_hook(self._stop)]
        for name, value in attrs.items():
            if type(value).__name__ == "InferenceSession":
                self._sessions.append((name, value))
                setattr(adapter, name, _TimedSession(value, self))
        self._adapter = adapter

    def reset(self) -> None:
        """Start a new image (also after a forward that raised, whose end hook never ran)."""
        self.total_ms, self._depth = 0.0, 0

    @property
    def found(self) -> bool:
        return bool(self._handles or self._sessions)

    def _start(self, *_: Any) -> None:
        self._depth += 1
        if self._depth == 1:
            sync(self.device)
            self._t0 = time.perf_counter()

    def _stop(self, *_: Any) -> None:
        self._depth -= 1
        if self._depth == 0:
            sync(self.device)
            self.total_ms += (time.perf_counter() - self._t0) * 1000

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        for name, session in self._sessions:
            setattr(self._adapter, name, session)


class _TimedSession:
    def __init__(self, session: Any, timer: ForwardTimer) -> None:
        self._session, self._timer = session, timer

    def run(self, *args: Any, **kw: Any) -> Any:
        self._timer._start()
        try:
            return self._session.run(*args, **kw)
        finally:
            self._timer._stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def seed(key: str) -> None:
    """Per-image seeding, so results do not depend on sharding or resume order (GrabCut, sampling...)."""
    import cv2
    import torch

    s = zlib.crc32(key.encode()) & 0x7FFFFFFF  # cv2.setRNGSeed takes a C int
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    cv2.setRNGSeed(s)


# ----------------------------------------------------------------------------- prediction files

def read_records(pred_dir: Path) -> list[dict]:
    """Every record of every rank's file; a line cut short by a crash is skipped."""
    out = []
    for path in sorted(pred_dir.glob("rank*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return out


def open_records(path: Path) -> Any:
    """``path`` opened for appending records; a last line cut short by a crash is ended first."""
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            cut = f.read(1) != b"\n"
        if cut:
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n")
    return open(path, "a", encoding="utf-8")


def shard_todo(samples: tuple, done: set[str], rank: int, world: int) -> list:
    """This rank's share of the samples not done yet (round robin over the remaining ones)."""
    todo = [s for s in samples if s.key not in done]
    return todo[rank::world]


def weights_label(spec: seglab.ModelSpec, random_init: bool) -> str:
    """The results' ``weights`` column."""
    if spec.source == "embedded":
        return OFFLINE
    return RANDOM if random_init else "pretrained"


def run_name(model_id: str, config: RunConfig) -> str:
    """The results' ``model`` column and prediction folder: the registry id, marked when the weights are random
    (so random-init and pretrained runs of one model neither replace nor resume each other)."""
    return f"{model_id} (random-init)" if config.random_init else model_id


def load_adapter(spec: seglab.ModelSpec, args: argparse.Namespace, config: RunConfig, tmp: Path) -> Any:
    """The loaded model: pretrained (cache or ``--location``), embedded, or random-init built into ``tmp``."""
    location = args.location
    if config.random_init and spec.source != "embedded":
        from benchmarks.random_init import save_random_weights

        location = save_random_weights(spec, tmp / spec.id)
    return seglab.load_model(spec.id, device=config.device, dtype=config.dtype, location=location)


def run_model(model_id: str, task: Any, dataset: Any, config: RunConfig, args: argparse.Namespace,
              rank: int, world: int, run_id: str, tmp: Path) -> tuple[Path, dict]:
    """Run one model over this rank's share; returns the prediction folder and run facts (load time, weights)."""
    pred_dir = args.out / "predictions" / run_name(model_id, config) / config.task
    if rank == 0:
        pred_dir.mkdir(parents=True, exist_ok=True)
        existing = [p for p in pred_dir.glob("rank*.jsonl") if p.stat().st_size]
        if existing and not (args.resume or args.rescore):
            raise BenchmarkInputError(f"{pred_dir} already holds predictions; pass --resume to continue them, "
                                      f"--rescore to score them, or choose another --out")
    barrier()
    spec = seglab.get_spec(model_id)
    facts: dict[str, Any] = {"weights": weights_label(spec, config.random_init), "load_s": None}
    if args.rescore:
        return pred_dir, facts
    t_load = time.perf_counter()
    adapter = load_adapter(spec, args, config, tmp)
    facts["load_s"] = time.perf_counter() - t_load
    done = {r["key"] for r in read_records(pred_dir) if r.get("ok")}
    todo = shard_todo(dataset.samples, done, rank, world)
    context = TaskContext(config, dataset, pred_dir)
    timer = ForwardTimer(adapter, config.device)
    cold = True
    with open_records(pred_dir / f"rank{rank}.jsonl") as out, \
            tqdm(todo, desc=f"{model_id} [{rank}/{world}]", unit="img", disable=rank != 0, dynamic_ncols=True) as bar:
        for sample in bar:
            record = run_one(adapter, task, sample, context, timer, cold)
            record.update(run_id=run_id, rank=rank)
            cold = cold and not record["ok"]
            out.write(json.dumps(record) + "\n")
            out.flush()
    timer.close()
    return pred_dir, facts


def run_one(adapter: Any, task: Any, sample: Any, context: TaskContext, timer: ForwardTimer, cold: bool) -> dict:
    """One image: a record with its prediction and timings, or with the error (the run goes on)."""
    device = context.config.device
    record: dict[str, Any] = {"key": sample.key, "image_id": sample.image_id, "file_name": sample.image_path.name}
    seed(sample.key)
    reset_peak(device)
    timer.reset()
    wall0 = time.time()
    try:
        with Timer(device) as e2e:
            image = seglab.load_image(sample.image_path)
            prediction = task.run(adapter, image, sample, context)
    except Exception as err:  # noqa: BLE001 - any failure on one image is recorded and the run goes on
        return {**record, "ok": False, "error": f"{type(err).__name__}: {err}"}
    return {**record, "ok": True, "prediction": prediction, "latency_ms": e2e.ms,
            "forward_ms": timer.total_ms if timer.found else None, "cold": cold,
            "peak_mem_mb": peak_memory_mb(device), "t_start": wall0, "t_end": time.time()}


# ----------------------------------------------------------------------------- scoring and results

def summarise(model_id: str, task: Any, dataset: Any, config: RunConfig, records: list[dict], facts: dict,
              world: int) -> tuple[dict, list[dict]]:
    """The results row (metrics + latency + environment) and the per-image latency rows."""
    import torch
    import transformers

    ok = ok_records(records)
    failed = {r["key"] for r in records if not r.get("ok")} - {r["key"] for r in ok}
    metrics = task.score(ok, dataset, config) if ok and not config.random_init else {}
    warm = [r["latency_ms"] for r in ok if not r.get("cold")] or [r["latency_ms"] for r in ok]
    cold = [r["latency_ms"] for r in ok if r.get("cold")]
    forward = [r["forward_ms"] for r in ok if not r.get("cold") and r.get("forward_ms") is not None]
    last_run = max(ok, key=lambda r: r["t_end"])["run_id"] if ok else None
    latest = [r for r in ok if r.get("run_id") == last_run]
    span = (max(r["t_end"] for r in latest) - min(r["t_start"] for r in latest)) if latest else 0.0
    row = {
        "model": run_name(model_id, config), "task": config.task, "dataset": dataset.name, **metrics,
        "latency_p50_ms": _pct(warm, 50), "latency_p90_ms": _pct(warm, 90), "latency_cold_ms": _mean(cold),
        "forward_p50_ms": _pct(forward, 50), "images_per_s": len(latest) / span if span > 0 else None,
        "peak_mem_mb": max((r["peak_mem_mb"] for r in ok), default=None), "load_s": facts["load_s"],
        "n_images": len(ok), "n_failed": len(failed), "weights": facts["weights"],
        "device": _device_name(config.device), "dtype": config.dtype, "batch_size": config.batch_size,
        "world_size": world, "torch": torch.__version__, "transformers": transformers.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "timing_method": TIMING_METHOD,
        "note": dataset.note,
    }
    lat = [{"model": row["model"], "task": config.task, "dataset": dataset.name, "image": r["key"],
            "latency_ms": r["latency_ms"], "forward_ms": r.get("forward_ms"), "cold": bool(r.get("cold")),
            "weights": facts["weights"], "device": row["device"]} for r in ok]
    return row, lat


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name()
    import platform

    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.is_file() else []
    return f"cpu ({names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


# ----------------------------------------------------------------------------- main

def load_dataset(task: Any, config: RunConfig) -> Any:
    """The task's data set for ``config.model``, cut to ``--limit``."""
    dataset = task.load(config)
    if config.limit:
        dataset = replace(dataset, samples=dataset.samples[:config.limit])
    if not dataset.samples:
        raise BenchmarkInputError(f"{dataset.name} has no image to run for the {config.task} benchmark")
    return dataset


def check_models(model_ids: list[str], task: Any, config: RunConfig) -> None:
    """Every id is in the registry, does the task and, with --random-init, has downloadable weights to replace
    (raises before anything runs)."""
    for model_id in model_ids:
        spec = seglab.get_spec(model_id)
        if spec.task != task.REGISTRY_TASK:
            raise seglab.UnsupportedTaskError(
                f"{model_id} is a {spec.task} model; the {config.task} benchmark needs a {task.REGISTRY_TASK} model")
        if config.random_init and spec.source == "embedded":
            raise BenchmarkInputError(f"{model_id} ships its weights inside seglab; run it without --random-init")


def main(argv: list[str] | None = None) -> int:
    rank = 0
    try:
        args = parse_args(argv)
        task = get_task(args.task)
        config = make_config(args, task)
        model_ids = [m.strip() for m in args.models.split(",") if m.strip()]
        if not model_ids:
            raise BenchmarkInputError("--models names no model")
        check_models(model_ids, task, config)
        datasets = [load_dataset(task, replace(config, model=m)) for m in model_ids]  # all checked before any run
        rank, world = dist_init()
        run_id = broadcast(uuid.uuid4().hex[:12])
        with tempfile.TemporaryDirectory(prefix="seglab-bench-") as tmp:
            for model_id, dataset in zip(model_ids, datasets):
                config = replace(config, model=model_id)
                pred_dir, facts = run_model(model_id, task, dataset, config, args, rank, world, run_id, Path(tmp))
                barrier()
                if rank == 0:
                    keys = {s.key for s in dataset.samples}
                    records = [{**r, "pred_dir": str(pred_dir)} for r in read_records(pred_dir) if r["key"] in keys]
                    if args.rescore and not records:
                        raise BenchmarkInputError(f"no saved predictions to score in {pred_dir}")
                    row, latencies = summarise(model_id, task, dataset, config, records, facts, world)
                    update_results(args.out, row, latencies)
                    shown = {k: v for k, v in row.items() if isinstance(v, float) and k not in ("load_s",)}
                    print(f"{row['model']} {config.task} {dataset.name}: n={row['n_images']} failed={row['n_failed']} "
                          + " ".join(f"{k}={v:.4g}" for k, v in shown.items()), flush=True)
        barrier()
    except seglab.SeglabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if rank == 0:
            print(f"interrupted: finished images are saved under {args.out / 'predictions'}; "
                  f"run again with --resume to continue", file=sys.stderr)
        return 130
    finally:
        _dist_close()
    return 0


def _dist_close() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
