"""Latency measurement: cold call apart, warm-up untimed, named statistics (on a fake clock)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from seglab.metrics import LatencyStats, Timer, latency, measure


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
