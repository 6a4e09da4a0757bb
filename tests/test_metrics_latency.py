"""The clock: cold call apart, warm-up untimed, named statistics, the network's forward alone (on fake clocks)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from seglab.metrics import LatencyStats, Timer, latency, measure
from seglab.metrics.latency import ForwardTimer, peak_memory_mb, reset_peak_memory


def test_measure_keeps_cold_call_apart_and_names_statistics(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(latency, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    durations = iter([5.0, 9.0, 9.0] + [0.001 * k for k in range(1, 11)])  # cold, 2 warm-up, 10 timed (s)

    def fn():
        now[0] += next(durations)

    stats = measure(fn, warmup=2, repeats=10, batch_size=4)
    timed = np.arange(1, 11, dtype=float)  # ms
    assert isinstance(stats, LatencyStats) and stats.cold_ms == pytest.approx(5000)
    assert stats.mean_ms == pytest.approx(timed.mean()) and stats.p50_ms == pytest.approx(np.percentile(timed, 50))
    assert stats.p90_ms == pytest.approx(np.percentile(timed, 90))
    assert stats.images_per_s == pytest.approx(4000 / timed.mean())
    assert stats.peak_memory_mb > 0 and stats.as_dict()["repeats"] == 10 and stats.device == "cpu"
    with pytest.raises(ValueError):
        measure(fn, repeats=0)


def test_timer_measures_the_block():
    with Timer() as t:
        time.sleep(0.005)
    assert t.ms >= 5


def test_latency_stats_of_a_run_name_every_number():
    stats = LatencyStats.from_ms([4.0, 2.0, 6.0, 8.0], cold_ms=[100.0, 300.0], batch_size=2)
    assert stats.cold_ms == 200 and stats.min_ms == 2 and stats.mean_ms == 5 and stats.repeats == 4
    assert stats.p50_ms == np.percentile([2, 4, 6, 8], 50) and stats.images_per_s == pytest.approx(400)
    assert LatencyStats.from_ms([1.0]).cold_ms is None
    with pytest.raises(ValueError, match="no warm time"):
        LatencyStats.from_ms([])


def test_peak_memory_on_cpu_is_the_process_peak_rss():
    reset_peak_memory("cpu")  # nothing to reset on CPU
    big = np.ones(64 * 2**20, np.uint8)  # 64 MiB touched
    assert peak_memory_mb("cpu") >= 64 and big.sum() == big.size


def test_forward_timer_counts_nested_and_direct_submodule_calls_once(monkeypatch):
    import itertools

    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.decoder = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.decoder(self.encoder(x))

    class Adapter:  # an adapter that also calls a part of its network on its own, as SAM's does
        def __init__(self) -> None:
            self.model = Net()

    clock = itertools.count()  # every clock read advances one second
    monkeypatch.setattr(latency.time, "perf_counter", lambda: float(next(clock)))
    adapter = Adapter()
    timer = ForwardTimer(adapter, "cpu")
    x = torch.zeros(1, 2)
    adapter.model(x)
    assert timer.found and timer.total_ms == 1000  # one start and one stop read: nested calls add none
    adapter.model.encoder(x)
    assert timer.total_ms == 2000
    timer.reset()
    timer.close()
    adapter.model(x)
    assert timer.total_ms == 0 and not adapter.model._forward_hooks


def test_forward_timer_times_onnxruntime_sessions_and_gives_them_back(monkeypatch):
    class InferenceSession:  # the name onnxruntime's sessions have
        def run(self, outputs, feeds):
            return ["out"]

        def get_inputs(self):
            return ["x"]

    class Adapter:
        def __init__(self) -> None:
            self.session = InferenceSession()

    clock = iter([0.0, 0.25])
    monkeypatch.setattr(latency.time, "perf_counter", lambda: next(clock))
    adapter = Adapter()
    original = adapter.session
    timer = ForwardTimer(adapter, "cpu")
    assert adapter.session.run(None, {}) == ["out"] and adapter.session.get_inputs() == ["x"]
    assert timer.total_ms == 250
    timer.close()
    assert adapter.session is original
