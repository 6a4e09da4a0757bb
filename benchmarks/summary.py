"""The benchmark's results row (metrics, latency, memory, environment) and per-image latency rows."""
from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.runner import ModelRun
from benchmarks.tasks import Dataset, RunConfig, ok_records
from seglab.metrics.latency import LatencyStats

TIMING_METHOD = (
    "time.perf_counter per image; e2e = decode + pre-processing + forward + post-processing + COCO encoding; "
    "forward = torch forward hooks / onnxruntime run around the network only; warm = every image but each "
    "process's first (cold, reported apart); torch.cuda.synchronize before every clock read on GPU; "
    "peak memory = torch.cuda.max_memory_allocated per image on GPU, peak process RSS on CPU; "
    "images/s = successful images / wall time of the latest session over all ranks (rank 0's wall time "
    "includes feeding its evaluator)")


def summarize(name: str, dataset: Dataset, config: RunConfig, run: ModelRun, records: list[dict],
              metrics: dict[str, Any], world: int) -> tuple[dict, list[dict]]:
    """The results row of model run ``name`` (its ``records`` scored as ``metrics``) and its per-image latencies."""
    import torch
    import transformers

    ok = ok_records(records)
    failed = {r["key"] for r in records if not r.get("ok")} - {r["key"] for r in ok}
    warm = [r["latency_ms"] for r in ok if not r.get("cold")] or [r["latency_ms"] for r in ok]
    cold = [r["latency_ms"] for r in ok if r.get("cold")]
    forward = [r["forward_ms"] for r in ok if not r.get("cold") and r.get("forward_ms") is not None]
    e2e = LatencyStats.from_ms(warm, cold) if warm else None
    last_run = max(ok, key=lambda r: r["t_end"])["run_id"] if ok else None
    latest = [r for r in ok if r.get("run_id") == last_run]
    span = (max(r["t_end"] for r in latest) - min(r["t_start"] for r in latest)) if latest else 0.0
    row = {
        "model": name, "task": config.task, "dataset": dataset.name, "protocol": run.protocol, **metrics,
        "latency_p50_ms": e2e and e2e.p50_ms, "latency_p90_ms": e2e and e2e.p90_ms,
        "latency_cold_ms": e2e and e2e.cold_ms,
        "forward_p50_ms": LatencyStats.from_ms(forward).p50_ms if forward else None,
        "images_per_s": len(latest) / span if span > 0 else None,
        "peak_mem_mb": max((r["peak_mem_mb"] for r in ok), default=None), "load_s": run.load_s,
        "n_images": len(ok), "n_failed": len(failed), "weights": run.weights,
        "device": device_name(config.device), "dtype": config.dtype, "batch_size": config.batch_size,
        "world_size": world, "torch": torch.__version__, "transformers": transformers.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "timing_method": TIMING_METHOD,
        "note": dataset.note,
    }
    latencies = [{"model": name, "task": config.task, "dataset": dataset.name, "protocol": run.protocol, "image": r["key"],
                  "latency_ms": r["latency_ms"], "forward_ms": r.get("forward_ms"), "cold": bool(r.get("cold")),
                  "weights": run.weights, "device": row["device"]} for r in ok]
    return row, latencies


def device_name(device: str) -> str:
    """The GPU's name, or the CPU model and core count."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.is_file() else []
    return f"cpu ({names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
