"""Benchmark registry models on COCO val2017 (or NYU, or a driving data set): metrics, latency, memory.

    python -m benchmarks.run --models embedded-u2netp-grabcut --task promptable \\
        --coco-root ../shared/data/coco-val2017-mini --limit 10 --out results-local
    python -m benchmarks.run --models fcn-resnet50 --weights fcn-resnet50=fcn.pth ...   # local weights
    python -m benchmarks.run --task promptable --models sam-vit-huge --prompt-boxes vitdet_h.json \\
        --prompt-boxes-from vitdet-h --coco-root coco --out results   # a detector's boxes: class-aware mask AP
    torchrun --nproc-per-node 2 -m benchmarks.run ...   # shards images over ranks (gloo on CPU, nccl on GPU)

Per image, one JSON line is appended (and flushed) to
``OUT/predictions/<model>/<task>/rank<R>.jsonl`` (``<task>-<protocol>`` for a protocol other than the
task's default, e.g. ``promptable-coco-detection-boxes``): the COCO-format prediction, its
latencies and peak memory, or the error. ``--resume`` skips images already written;
``--rescore`` scores saved predictions again. Rank 0 streams its predictions into the task's
evaluator (``seglab.metrics``) as they come and, once all ranks are done, the others' records;
it writes one row per model x task x dataset x protocol (the ``protocol`` column: the id in
``seglab.protocols`` of what ran) to ``OUT/results.csv`` / ``results.json`` and
per-image latencies to ``OUT/latency.csv``. ``OUT`` must be a folder every rank can read (shared
file system). The parts: :mod:`benchmarks.runner` (one model over a shard), :mod:`benchmarks.records`
(the JSONL files), :mod:`benchmarks.distributed` (torchrun), :mod:`benchmarks.summary` (the results
row), :mod:`seglab.metrics.latency` (the clock).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import seglab
from benchmarks import distributed
from benchmarks.records import read_records
from benchmarks.runner import Session, check_models, load_dataset, run_model, run_name, score
from benchmarks.summary import summarize
from benchmarks.tasks import TASKS, BenchmarkInputError, RunConfig, get_task
from seglab.report import update_results

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DEPTH_ROOT = REPO.parent / "shared" / "data" / "nyu-depth-v2-mini"


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
                   help="coco (the default); semantic: also ade20k, cityscapes, mapillary, gta5; panoptic: also "
                        "cityscapes; depth: nyu (its default); semantic and depth: also the simulators carla, habitat; "
                        "part: celebamask-hq")
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
    p.add_argument("--weights", action="append", default=[], metavar="MODEL=PATH",
                   help="load MODEL's weights from this local folder/file instead of the cache (repeatable)")
    p.add_argument("--location", type=Path, help="load every model's weights from this folder/file (one model)")
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


def model_ids(args: argparse.Namespace) -> list[str]:
    ids = [m.strip() for m in args.models.split(",") if m.strip()]
    if not ids:
        raise BenchmarkInputError("--models names no model")
    return ids


def local_weights(args: argparse.Namespace, models: list[str]) -> dict[str, Path]:
    """model id -> weights path, from ``--location`` (every model) and ``--weights MODEL=PATH`` (one each)."""
    weights = dict.fromkeys(models, args.location) if args.location else {}
    for item in args.weights:
        model, sep, path = item.partition("=")
        if not sep or not model or not path:
            raise BenchmarkInputError(f"--weights takes MODEL=PATH, not {item!r}")
        if model not in models:
            raise BenchmarkInputError(f"--weights names {model}, which is not in --models")
        weights[model] = Path(path)
    for model, path in weights.items():
        if not path.exists():
            raise BenchmarkInputError(f"the weights of {model} are not at {path}")
    if weights and args.random_init:
        raise BenchmarkInputError("--random-init builds its own weights; leave out --weights / --location")
    return weights


def make_config(args: argparse.Namespace, task: object, models: list[str]) -> RunConfig:
    """The one object every part of the run reads (``model`` is set per model)."""
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
                     root=args.root, limit=args.limit, device=seglab.resolve_device(args.device),
                     dtype=args.dtype, batch_size=args.batch_size, random_init=args.random_init, options=options,
                     out=args.out, weights=local_weights(args, models), resume=args.resume, rescore=args.rescore)


def benchmark(task: object, config: RunConfig, models: list[str]) -> None:
    """Every model in turn: run (all ranks), then score and write its results row (rank 0)."""
    check_models(task, config, models)
    datasets = [load_dataset(task, replace(config, model=m)) for m in models]  # all checked before any run
    rank, world = distributed.init()
    run_id = distributed.broadcast(uuid.uuid4().hex[:12])
    with tempfile.TemporaryDirectory(prefix="seglab-bench-") as tmp:
        session = Session(rank, world, run_id, Path(tmp))
        for model, dataset in zip(models, datasets):
            model_config = replace(config, model=model)
            run = run_model(task, dataset, model_config, session)
            distributed.barrier()
            if rank == 0:
                keys = {s.key for s in dataset.samples}
                records = [r for r in read_records(run.pred_dir) if r["key"] in keys]
                if config.rescore and not records:
                    raise BenchmarkInputError(f"no saved predictions to score in {run.pred_dir}")
                metrics = score(task, dataset, model_config, run, records)
                row, latencies = summarize(run_name(model_config), dataset, model_config, run, records, metrics,
                                           world)
                update_results(config.out, row, latencies)
                shown = {k: v for k, v in row.items() if isinstance(v, float) and k not in ("load_s",)}
                print(f"{row['model']} {config.task} {dataset.name}: n={row['n_images']} failed={row['n_failed']} "
                      + " ".join(f"{k}={v:.4g}" for k, v in shown.items()), flush=True)
    distributed.barrier()


def main(argv: list[str] | None = None) -> int:
    args = None
    try:
        args = parse_args(argv)
        task = get_task(args.task)
        models = model_ids(args)
        benchmark(task, make_config(args, task, models), models)
    except seglab.SeglabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args is not None and os.environ.get("RANK", "0") == "0":  # torchrun's rank
            print(f"interrupted: finished images are saved under {args.out / 'predictions'}; "
                  f"run again with --resume to continue", file=sys.stderr)
        return 130
    finally:
        distributed.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
