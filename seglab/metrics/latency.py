"""Latency and memory of a callable: cold first call apart, warm-up, p50 / p90 / mean ms, images/s.

On CUDA the clock is read after ``torch.cuda.synchronize()`` so queued kernels are counted, and peak
memory is ``torch.cuda.max_memory_allocated`` over the timed calls. On CPU peak memory is the
process's peak resident set size so far (``ru_maxrss``), which cannot be reset: read it as an
upper bound.
"""
from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class Timer:
    """``with Timer(device) as t: ...`` then ``t.ms``; synchronises CUDA before both clock reads."""

    def __init__(self, device: str = "cpu"):
        self.device, self.ms = device, float("nan")

    def __enter__(self) -> Timer:
        _sync(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        _sync(self.device)
        self.ms = (time.perf_counter() - self._start) * 1000


@dataclass(frozen=True)
class LatencyStats:
    cold_ms: float
    p50_ms: float
    p90_ms: float
    mean_ms: float
    images_per_s: float
    peak_memory_mb: float
    repeats: int
    device: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux


def measure(fn: Callable[[], Any], warmup: int = 2, repeats: int = 10, device: str = "cpu",
            batch_size: int = 1) -> LatencyStats:
    """Time ``fn()``: one cold call (reported apart), ``warmup`` untimed calls, then ``repeats`` timed calls."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    with Timer(device) as cold:
        fn()
    for _ in range(warmup):
        fn()
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        with Timer(device) as t:
            fn()
        times.append(t.ms)
    ms = np.array(times)
    mean = float(ms.mean())
    return LatencyStats(cold.ms, float(np.percentile(ms, 50)), float(np.percentile(ms, 90)), mean,
                        batch_size * 1000.0 / mean if mean > 0 else float("inf"), _peak_memory_mb(device),
                        repeats, device)
