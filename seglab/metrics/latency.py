"""The one clock and memory gauge of seglab: wall time of a block, of a network's forward alone, peak memory,
and the named statistics of a list of times (cold call apart, p50 / p90 / mean / min, images/s).

On CUDA the clock is read after ``torch.cuda.synchronize()`` so queued kernels are counted, and peak
memory is ``torch.cuda.max_memory_allocated`` since the last :func:`reset_peak_memory`. On CPU peak
memory is the process's peak resident set size so far (``ru_maxrss``), which cannot be reset: read it
as an upper bound. torch is imported only where a CUDA device or a torch module is involved.
"""
from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def sync(device: str) -> None:
    """Wait for the device's queued work (CUDA); nothing on CPU."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class Timer:
    """``with Timer(device) as t: ...`` then ``t.ms``; synchronises CUDA before both clock reads."""

    def __init__(self, device: str = "cpu"):
        self.device, self.ms = device, float("nan")

    def __enter__(self) -> Timer:
        sync(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        sync(self.device)
        self.ms = (time.perf_counter() - self._start) * 1000


def peak_memory_mb(device: str) -> float:
    """Peak memory in MiB: allocated on CUDA since :func:`reset_peak_memory`, the process's peak RSS on CPU."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux


def reset_peak_memory(device: str) -> None:
    """Start a new CUDA peak; the CPU peak RSS cannot be reset."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


class ForwardTimer:
    """Times the network alone: forward hooks on the adapter's outermost torch modules and their direct
    children (adapters call parts such as SAM's ``vision_encoder`` on their own; nested calls count once), and
    the ``run`` of its onnxruntime sessions; ``total_ms`` sums them since :meth:`reset`."""

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
        """Whether the adapter holds any network this timer can see."""
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
        """Remove the hooks and give the adapter its own sessions back."""
        for h in self._handles:
            h.remove()
        for name, session in self._sessions:
            setattr(self._adapter, name, session)


class _TimedSession:
    """An onnxruntime session whose ``run`` is timed by a :class:`ForwardTimer`."""

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


@dataclass(frozen=True)
class LatencyStats:
    """Named statistics of warm call times (ms), the cold (first) calls apart (their mean; None without any)."""

    cold_ms: float | None
    p50_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    images_per_s: float
    repeats: int
    peak_memory_mb: float | None = None
    device: str = "cpu"

    @classmethod
    def from_ms(cls, warm_ms: Sequence[float], cold_ms: Sequence[float] | float | None = None, batch_size: int = 1,
                peak_memory_mb: float | None = None, device: str = "cpu") -> LatencyStats:
        """Statistics of ``warm_ms`` (at least one); ``images_per_s`` counts ``batch_size`` images a call."""
        ms = np.asarray(warm_ms, np.float64)
        if not ms.size:
            raise ValueError("no warm time to summarize")
        cold = np.atleast_1d(np.asarray(cold_ms if cold_ms is not None else [], np.float64))
        mean = float(ms.mean())
        return cls(float(cold.mean()) if cold.size else None, float(np.percentile(ms, 50)),
                   float(np.percentile(ms, 90)), mean, float(ms.min()),
                   batch_size * 1000.0 / mean if mean > 0 else float("inf"), int(ms.size), peak_memory_mb, device)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(fn: Callable[[], Any], warmup: int = 2, repeats: int = 10, device: str = "cpu",
            batch_size: int = 1) -> LatencyStats:
    """Time ``fn()``: one cold call (reported apart), ``warmup`` untimed calls, then ``repeats`` timed calls."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    with Timer(device) as cold:
        fn()
    for _ in range(warmup):
        fn()
    reset_peak_memory(device)
    times = []
    for _ in range(repeats):
        with Timer(device) as t:
            fn()
        times.append(t.ms)
    return LatencyStats.from_ms(times, cold.ms, batch_size, peak_memory_mb(device), device)
