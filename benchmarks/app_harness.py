"""Timing an app from outside: start it in a subprocess (until its first HTTP 200) and stop it, boxes whose
copies share no per-box work, and ways of doing one thing alternated round by round (what :mod:`.app_speed`
and :mod:`.app_speed_browser` measure with)."""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CALL_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str, float]:
    """A server process, its URL, and the seconds until it first answered HTTP 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    began = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, "GRADIO_SERVER_PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return proc, url, time.perf_counter() - began
        except OSError:
            time.sleep(0.05)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def summary(name: str, seconds: list[float], unit: str = "ms") -> str:
    k, digits = (1000, 0) if unit == "ms" else (1, 2)
    low, mid = min(seconds) * k, statistics.median(seconds) * k
    return f"{name}: min {low:.{digits}f} {unit}, median {mid:.{digits}f} {unit}"


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def boxes(rng: np.random.Generator, n: int, width: int, height: int, shift: int = 8) -> list[list[float]]:
    """n random boxes covering 10-45 % of each side, each at least half its size plus ``shift`` pixels from
    every border: the context a model takes around a box (the offline model's: a quarter of the box each side)
    is then never clipped, so copies of a box moved a few pixels never hold one another's context and none
    reuses another's per-box work."""
    out = []
    for _ in range(n):
        w, h = rng.uniform(0.1, 0.45) * width, rng.uniform(0.1, 0.45) * height
        mx, my = w / 2 + shift, h / 2 + shift
        x, y = rng.uniform(mx, width - w - mx), rng.uniform(my, height - h - my)
        out.append([round(x, 1), round(y, 1), round(x + w, 1), round(y + h, 1)])
    return out


def alternated(n: int, *ways: Callable[[int], object]) -> list[list[float]]:
    """Seconds of ``way(i)`` for i < n, the ways alternated and their order swapped every round so that load
    on the machine hits each alike; two rounds of each first, untimed, on inputs n and n + 1 (warm-up)."""
    for i in (n, n + 1):
        for way in ways:
            way(i)
    times: list[list[float]] = [[] for _ in ways]
    for i in range(n):
        order = range(len(ways)) if i % 2 else reversed(range(len(ways)))
        for k in order:
            times[k].append(timed(lambda: ways[k](i)))
    return times
