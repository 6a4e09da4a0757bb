"""The app's resources stay bounded: building it imports no torch nor plotly and sets the threads a model run may use,
model runs never take more than the app's slots (slots x threads <= cores), many sessions with large images
keep the process memory under a fixed bound, the download files stay under their cap, and Gradio's monitoring summary
is not rebuilt from its whole event history after every event."""
from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ui
from ui import common, session
from ui.segment import SegmentHandlers

ROOT = Path(__file__).resolve().parents[1]
SESSIONS = 60
SIDE = (3000, 2250)  # 20 MB a decoded image: 60 sessions grew RSS by about 1.5 GB unbounded
STORE_MB = 200


def rss_mb() -> float:
    """This process's resident memory now (Linux's /proc)."""
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("reading the resident memory needs Linux's /proc")
    line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_building_the_app_imports_no_torch_nor_plotly_and_sets_threads_per_slot():
    code = ("import sys, seglab; from ui import build_demo, common; build_demo(); "
            "print(common.SLOTS, seglab.intra_op_threads(), common.CORES); "
            "print('torch' in sys.modules, 'plotly' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PATH": "",
                            "HOME": str(Path.home())})
    assert r.returncode == 0, r.stderr
    *_, threads, last = r.stdout.strip().splitlines()
    assert last == "False False"  # no chart is drawn before the Benchmark tab is opened
    slots, per_slot, cores = map(int, threads.split())
    assert per_slot == max(1, cores // slots) and (slots * per_slot <= cores or per_slot == 1)


@pytest.mark.parametrize("slots, per_model", [(2, 3), (3, 1)])
def test_model_runs_never_take_more_than_the_slots_whichever_tabs_call_them(coco_image, monkeypatch, slots,
                                                                             per_model):
    active, peak, lock = [0], [0], threading.Lock()
    real_predict = common.seglab.predict

    def counting_predict(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            threading.Event().wait(0.3)  # hold the slot long enough for the other calls to arrive
            return real_predict(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(common.seglab, "predict", counting_predict)
    monkeypatch.setattr(common, "_any_slot", threading.BoundedSemaphore(slots))
    monkeypatch.setattr(common, "_slots", {})
    monkeypatch.setattr(common, "MODEL_CONCURRENCY", per_model)
    source, box = common.ModelSource(), common.seglab.Prompt.build(box=[100, 50, 300, 250])
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: source.run("embedded-u2netp-grabcut", coco_image, box), range(6)))
    assert all(len(r[0]) == 1 for r in results) and peak[0] == min(slots, per_model)


def test_sixty_sessions_with_large_images_stay_under_a_fixed_memory_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(session, "STORE", session.seglab.LRUCache(STORE_MB * 2**20, size=session._size))
    handlers = SegmentHandlers(common.ModelSource())
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (SIDE[1] // 10, SIDE[0] // 10, 3), np.uint8)
    before = rss_mb()
    sessions = []
    for i in range(SESSIONS):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(np.roll(base, i, axis=1)).resize(SIDE).save(path, quality=70)
        sessions.append(handlers.new_image(str(path))[0])  # every session stays alive, as gr.State keeps it
    grown = rss_mb() - before
    assert grown < STORE_MB + 250, f"RSS grew by {grown:.0f} MB over {SESSIONS} sessions"
    assert sessions[0].image.shape == (SIDE[1], SIDE[0], 3)  # a session whose image was let go reads it again


def test_download_folders_stay_under_their_cap(tmp_path):
    for i in range(12):
        folder = tmp_path / f"request-{i}"
        folder.mkdir()
        (folder / "mask.png").write_bytes(b"x" * 1000)
        common.prune(tmp_path, max_bytes=4500, ttl_s=3600)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) <= 4500
    assert "request-11" in kept and "request-0" not in kept


@pytest.mark.parametrize("users_setting", [None, "7"])
def test_gradio_rebuilds_its_monitoring_summary_every_hundred_events_unless_told_otherwise(monkeypatch, users_setting):
    if users_setting is None:
        monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", raising=False)
    else:
        monkeypatch.setenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", users_setting)
    demo = ui.build_demo()
    expected = ui.ANALYTICS_EVERY if users_setting is None else int(users_setting)
    assert expected > 1 and demo._queue.ANAYLTICS_CACHE_FREQUENCY == expected  # gradio's spelling
