"""Speed and agreement of seglab's metrics against the reference tools, on the same files, in one run.

    python -m benchmarks.metric_speed [--copies 40] [--images 5000] [--repeats 3]

- PQ: seglab's ``pq_compute_files`` against panopticapi's ``pq_compute`` (process pool included),
  timed as whole processes (interpreter start, imports, JSON, PNG decoding), as in-process calls,
  and per image on one core next to the time decoding that image's two PNGs takes (the floor both
  share), best of ``--repeats``. Ground truth: the real COCO panoptic slice plus ``--copies`` perturbed copies
  of its PNGs (written to a temporary folder), predictions: perturbed copies of those.
- COCO mask AP / AR (class-aware): seglab's ``coco_instance_metrics``, pycocotools' ``COCOeval`` and
  faster-coco-eval's ``COCOeval_faster`` (seglab's engine) on a synthetic set of ``--images`` images (val2017's
  size by default: 38,200 ground-truth masks, 100 results an image), each scoring the JSON files in a fresh
  process: wall time (min and median of ``--repeats``, interleaved) and peak memory over the process after imports.

Prints the times and ratios, and asserts the numbers are identical (to 1e-9). Needs panopticapi-lite
(a test-only dependency). The data comes from ``benchmarks.metric_data``, which the tests check on too.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.metric_data import synthetic_instances, write_perturbed_panoptic
from seglab.formats import read_panoptic_png, write_json
from seglab.metrics import COCO_STATS, coco_instance_metrics, pq_compute_files

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-val2017-mini"


def _best(fn, repeats: int) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t)
    return best, value


REFERENCE_PROCESS = """import contextlib, io, json, sys
from panopticapi.evaluation import pq_compute
with contextlib.redirect_stdout(io.StringIO()):
    r = pq_compute(sys.argv[1], sys.argv[2])
json.dump({"PQ": 100 * r["All"]["pq"], "PQ_th": 100 * r["Things"]["pq"], "PQ_st": 100 * r["Stuff"]["pq"]},
          open(sys.argv[3], "w"))
"""
SEGLAB_PROCESS = """import json, sys
from seglab.metrics import pq_compute_files
r = pq_compute_files(sys.argv[1], sys.argv[2])
json.dump({k: r[k] for k in ("PQ", "PQ_th", "PQ_st")}, open(sys.argv[3], "w"))
"""


def reference_pq(gt_json: Path, pred_json: Path) -> dict:
    """panopticapi's ``pq_compute`` (its output swallowed)."""
    from panopticapi.evaluation import pq_compute

    with contextlib.redirect_stdout(io.StringIO()):
        return pq_compute(str(gt_json), str(pred_json))


def _process(code: str, *args: Path) -> tuple[float, float, dict]:
    """(wall s, CPU s of the process and its children, its JSON output) of one whole Python process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, stdout=subprocess.DEVNULL,
                   cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, json.loads(args[-1].read_text())


def one_core(gt_json: Path, pred_json: Path, repeats: int) -> dict[str, float]:
    """Per image pair on one core (best of ``repeats``, ms): both scorers, and decoding the two PNGs alone as
    each reads them (Pillow + ``np.array`` for panopticapi, OpenCV for seglab): the floor they share."""
    from panopticapi.evaluation import pq_compute_single_core

    gt, pred = json.loads(gt_json.read_text()), json.loads(pred_json.read_text())
    by_image = {a["image_id"]: a for a in pred["annotations"]}
    pairs = [(a, by_image[a["image_id"]]) for a in gt["annotations"]]
    pngs = [(gt_json.with_suffix("") / g["file_name"], pred_json.with_suffix("") / p["file_name"]) for g, p in pairs]
    cats = {c["id"]: c for c in gt["categories"]}

    def reference() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            pq_compute_single_core(0, pairs, str(gt_json.with_suffix("")), str(pred_json.with_suffix("")), cats)

    times = {"ref": _best(reference, repeats)[0],
             "ours": _best(lambda: pq_compute_files(gt_json, pred_json, workers=1), repeats)[0],
             "ref_decode": _best(lambda: [np.array(Image.open(f), np.uint32) for pair in pngs for f in pair],
                                 repeats)[0],
             "ours_decode": _best(lambda: [read_panoptic_png(f) for pair in pngs for f in pair], repeats)[0]}
    return {k: 1000 * v / len(pairs) for k, v in times.items()}


def time_pq(gt_json: Path, pred_json: Path, repeats: int) -> dict[str, float]:
    """Both implementations as whole processes (interleaved, best of ``repeats``) and in process; checks
    that every PQ / SQ / RQ agrees to 1e-9."""
    ref, ours = reference_pq(gt_json, pred_json), pq_compute_files(gt_json, pred_json)
    for key, name in (("", "All"), ("_th", "Things"), ("_st", "Stuff")):
        for m in ("PQ", "SQ", "RQ"):
            assert abs(ours[m + key] - 100 * ref[name][m.lower()]) < 1e-9, (m + key, ours[m + key], ref[name])
    out = gt_json.parent / "process.json"
    runs: dict[str, list[tuple[float, float]]] = {"ref": [], "ours": []}
    for _ in range(repeats):
        for name, code in (("ref", REFERENCE_PROCESS), ("ours", SEGLAB_PROCESS)):
            wall, cpu, numbers = _process(code, gt_json, pred_json, out)
            assert abs(numbers["PQ"] - ours["PQ"]) < 1e-9, (name, numbers, ours["PQ"])
            runs[name].append((wall, cpu))
    t_ref, _ = _best(lambda: reference_pq(gt_json, pred_json), repeats)
    t_ours, _ = _best(lambda: pq_compute_files(gt_json, pred_json), repeats)
    return {"PQ": ours["PQ"], "images": ours["images"],
            "ref_wall": min(w for w, _ in runs["ref"]), "ours_wall": min(w for w, _ in runs["ours"]),
            "ref_cpu": min(c for _, c in runs["ref"]), "ours_cpu": min(c for _, c in runs["ours"]),
            "ref_call": t_ref, "ours_call": t_ours}


def real_and_perturbed(data: Path, tmp: Path, copies: int) -> dict[str, tuple[Path, Path]]:
    """(gt JSON, prediction JSON) of the real slice (its own files) and of ``copies`` perturbed copies of it."""
    real = tmp / "real"
    real.mkdir()
    real_pred = write_perturbed_panoptic(data, tmp / "real_perturbed", 0)[1]
    shutil.copytree(real_pred.with_suffix(""), real / "pred")
    shutil.copy(real_pred, real / "pred.json")
    shutil.copytree(data / "annotations" / "panoptic_val2017", real / "gt")
    shutil.copy(data / "annotations" / "panoptic_val2017.json", real / "gt.json")
    return {"real slice": (real / "gt.json", real / "pred.json"),
            f"{copies} perturbed copies": write_perturbed_panoptic(data, tmp / "pan", copies)}


def report_pq(label: str, gt_json: Path, pred_json: Path, repeats: int) -> None:
    """Print PQ's agreement and every time ratio of one prediction set."""
    r = time_pq(gt_json, pred_json, repeats)
    print(f"PQ, {label} ({r['images']} images): {r['PQ']:.4f}, identical to panopticapi (1e-9)")
    print(f"  whole process wall: panopticapi {r['ref_wall']:.3f} s, seglab {r['ours_wall']:.3f} s, "
          f"speed-up {r['ref_wall'] / r['ours_wall']:.2f}x")
    print(f"  whole process CPU:  panopticapi {r['ref_cpu']:.3f} s, seglab {r['ours_cpu']:.3f} s, "
          f"ratio {r['ref_cpu'] / r['ours_cpu']:.2f}x")
    print(f"  in-process call:    panopticapi {r['ref_call']:.3f} s, seglab {r['ours_call']:.3f} s, "
          f"speed-up {r['ref_call'] / r['ours_call']:.2f}x")
    c = one_core(gt_json, pred_json, repeats)
    print(f"  one core, per image: panopticapi {c['ref']:.2f} ms, seglab {c['ours']:.2f} ms, speed-up "
          f"{c['ref'] / c['ours']:.2f}x; decoding its two PNGs alone takes {c['ref_decode']:.2f} ms "
          f"(Pillow) and {c['ours_decode']:.2f} ms (OpenCV)")


def _percent(stats: Any) -> list[float]:
    """COCOeval's 12 stats as seglab reports them: percent, NaN for its -1."""
    return [float(v) * 100 if v >= 0 else float("nan") for v in stats]


def _pycocotools(gt_json: str, pred_json: str) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_json)
        ev = COCOeval(gt, gt.loadRes(pred_json), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return _percent(ev.stats)


def _faster_coco_eval(gt_json: str, pred_json: str) -> list[float]:
    from faster_coco_eval import COCO, COCOeval_faster

    gt = COCO(gt_json)
    ev = COCOeval_faster(gt, gt.loadRes(pred_json), "segm")
    ev.run()
    return _percent(ev.stats)


ENGINES: dict[str, Callable[[str, str], list[float]]] = {
    "seglab coco_instance_metrics": lambda gt, pred: list(coco_instance_metrics(gt, pred).values()),
    "pycocotools COCOeval": _pycocotools,
    "faster-coco-eval COCOeval_faster": _faster_coco_eval,
}
ENGINE_PROCESS = """import json, sys
from benchmarks.metric_speed import score
json.dump(score(*sys.argv[1:4]), open(sys.argv[4], "w"))
"""


def score(engine: str, gt_json: str, pred_json: str) -> dict[str, Any]:
    """One engine's 12 numbers from the two JSON files, its wall and CPU time (s; faster-coco-eval computes IoUs
    in up to 8 threads), and the peak memory (bytes) it added to this process after imports (run it in a fresh
    process: the peak is the process's high-water mark)."""
    import faster_coco_eval  # noqa: F401  imported before the baseline, as every engine's modules
    import pycocotools.cocoeval  # noqa: F401

    before, rss = resource.getrusage(resource.RUSAGE_SELF), _peak_rss()
    t = time.perf_counter()
    stats = ENGINES[engine](gt_json, pred_json)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"stats": stats, "seconds": seconds, "cpu": cpu, "peak": _peak_rss() - rss}


def _peak_rss() -> int:
    """This process's peak resident memory (bytes). Linux: ``VmHWM``, not ``ru_maxrss``, which a process started
    by ``exec`` inherits from its parent (the benchmark holding the synthetic set) as its starting value."""
    status = Path("/proc/self/status")
    if status.exists():
        return 1024 * int(next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:")).split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS


def report_coco(tmp: Path, images: int, repeats: int) -> None:
    """Print each engine's time and peak memory on a synthetic set of ``images`` images; asserts agreement."""
    gt, results = synthetic_instances(images)
    gt_json, pred_json = write_json(tmp / "instances.json", gt), write_json(tmp / "results.json", results)
    print(f"COCO mask AP, class-aware: {images} synthetic images, {len(gt['annotations'])} ground-truth masks, "
          f"{len(results)} results ({len(results) // images} an image); each engine scoring the JSON files in a "
          f"fresh process, {repeats} run(s) each, interleaved:")
    del gt, results
    runs: dict[str, list[dict]] = {name: [] for name in ENGINES}
    for _ in range(repeats):
        for name in ENGINES:
            subprocess.run([sys.executable, "-c", ENGINE_PROCESS, name, str(gt_json), str(pred_json),
                            str(tmp / "engine.json")], check=True, cwd=Path(__file__).resolve().parents[1])
            runs[name].append(json.loads((tmp / "engine.json").read_text()))
    for name, done in runs.items():
        seconds = [r["seconds"] for r in done]
        print(f"  {name:<33} wall min {min(seconds):7.2f} s, median {statistics.median(seconds):7.2f} s; CPU median "
              f"{statistics.median(r['cpu'] for r in done):7.2f} s; "
              f"peak memory +{statistics.median(r['peak'] for r in done) / 2**30:.2f} GB")
    first = [done[0]["stats"] for done in runs.values()]
    for stats in first[1:]:
        assert np.allclose(stats, first[0], rtol=0, atol=1e-9, equal_nan=True), (first[0], stats)
    named = dict(zip(COCO_STATS, first[0], strict=True))
    print(f"  AP {named['AP']:.4f}, AR@100 {named['AR@100']:.4f}: all 12 numbers identical in the three (1e-9)")
    ours, ref = runs["seglab coco_instance_metrics"], runs["pycocotools COCOeval"]
    speed_up = min(r["seconds"] for r in ref) / min(r["seconds"] for r in ours)
    ref_peak = statistics.median(r["peak"] for r in ref)  # 0 on a set so small its peak stays below the imports'
    memory = f"{statistics.median(r['peak'] for r in ours) / ref_peak:.2f}x" if ref_peak else "n/a"
    print(f"  seglab against pycocotools: speed-up {speed_up:.2f}x, peak memory {memory}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--copies", type=int, default=40, help="perturbed copies of each real panoptic image")
    ap.add_argument("--images", type=int, default=5000, help="synthetic COCO instance images (val2017 has 5000)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if importlib.util.find_spec("panopticapi") is None:
        sys.exit("metric_speed times PQ against panopticapi: pip install --no-deps panopticapi-lite==0.2.0")
    print(f"{os.cpu_count()} CPUs (panopticapi's pool uses all), load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, (gt_json, pred_json) in real_and_perturbed(args.data, Path(tmp), args.copies).items():
            report_pq(label, gt_json, pred_json, args.repeats)
        report_coco(Path(tmp), args.images, args.repeats)


if __name__ == "__main__":
    main()
