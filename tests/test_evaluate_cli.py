"""The evaluate CLI end to end on perturbed real ground truth, and its one-line errors."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from benchmarks.evaluate import format_table, main
from metric_references import crowd_gt, perturb_instances, reference_coco, write_perturbed_panoptic
from seglab.formats import write_json, write_label_png

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], out: Path) -> dict:
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    header, *rows = printed.getvalue().strip().splitlines()
    assert rows and {"AP", "PQ", "mIoU", "delta1"} & set(header.split())  # a table of the main numbers
    return result


def test_table_is_aligned_text():
    rows = {"All": {"PQ": 51.23456, "n": 3}, "Things": {"PQ": float("nan"), "n": 10}, "Stuff": {"PQ": None}}
    assert format_table(rows).splitlines() == ["            PQ   n",
                                               "All     51.235   3",
                                               "Things     nan  10",
                                               "Stuff"]


def test_instances_cli_equals_pycocotools(coco_root, tmp_path):
    rng = np.random.default_rng(3)
    gt = write_json(tmp_path / "gt.json", crowd_gt(json.loads(
        (coco_root / "annotations" / "instances_val2017.json").read_text()), rng))
    with contextlib.redirect_stdout(io.StringIO()):
        pred = write_json(tmp_path / "pred.json", perturb_instances(COCO(str(gt)), rng))
    for flags, use_cats in (([], True), (["--class-agnostic"], False)):
        r = run(["instances", "--gt", str(gt), "--pred", str(pred), *flags], tmp_path / "out.json")
        ref = reference_coco(gt, pred, use_cats)
        assert r["AP"] == pytest.approx(100 * ref[0], abs=1e-6)
        assert r["AR@100"] == pytest.approx(100 * ref[8], abs=1e-6)


def test_panoptic_cli_equals_panopticapi(coco_root, tmp_path):
    pq_compute = pytest.importorskip("panopticapi.evaluation").pq_compute
    gt, pred = write_perturbed_panoptic(coco_root, tmp_path, copies=0, seed=7)
    r = run(["panoptic", "--gt", str(gt), "--pred", str(pred), "--workers", "2"], tmp_path / "out.json")
    with contextlib.redirect_stdout(io.StringIO()):
        ref = pq_compute(str(gt), str(pred))
    for key, name in (("PQ", "All"), ("PQ_th", "Things"), ("PQ_st", "Stuff")):
        assert r[key] == pytest.approx(100 * ref[name]["pq"], abs=1e-6)
    assert r["task"] == "panoptic" and set(r["per_class"]) == {str(c) for c in ref["per_class"]}


def test_semantic_and_depth_cli(nyu_root, tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        g = rng.integers(0, 5, (20, 30))
        g[:2] = 255
        write_label_png(tmp_path / "gt" / f"{name}.png", g)
        write_label_png(tmp_path / "pred" / f"{name}.png", np.where(rng.random(g.shape) < 0.8, g, 0) % 255)
    r = run(["semantic", "--gt-folder", str(tmp_path / "gt"), "--pred-folder", str(tmp_path / "pred")],
            tmp_path / "s.json")
    assert r["images"] == 2 and 50 < r["mIoU"] < 100 and len(r["IoU"]) == 5

    (tmp_path / "depth").mkdir()
    for i in range(3):
        gt = cv2.imread(str(nyu_root / f"depth_{i}.png"), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(tmp_path / "depth" / f"depth_{i}.png"), (gt * 2).clip(0, 65535).astype(np.uint16))
    args = ["depth", "--gt-folder", str(nyu_root), "--pred-folder", str(tmp_path / "depth"),
            "--pattern", "depth_[0-2].png"]
    plain = run(args, tmp_path / "d.json")
    scaled = run([*args, "--median-scaling"], tmp_path / "d2.json")
    assert plain["images"] == 3 and plain["delta1"] < 0.05 and plain["AbsRel"] == pytest.approx(1, abs=1e-3)
    assert scaled["delta1"] > 0.99 and scaled["align"] == "median" and len(scaled["per_image"]) == 3


@pytest.mark.parametrize("argv, message", [
    (["panoptic", "--gt", "missing.json", "--pred", "missing.json"], "panoptic JSON missing.json does not exist"),
    (["instances", "--gt", "{gt}", "--pred", "{bad}"], "is not valid JSON"),
    (["semantic", "--gt-folder", "nowhere", "--pred-folder", "nowhere"], "folder nowhere does not exist"),
])
def test_bad_files_give_one_line_and_exit_2(coco_root, tmp_path, argv, message):
    (tmp_path / "bad.json").write_text("{")
    gt = coco_root / "annotations" / "instances_val2017.json"
    argv = [a.format(gt=gt, bad=tmp_path / "bad.json") for a in argv]
    p = subprocess.run([sys.executable, "-m", "benchmarks.evaluate", *argv], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("error: ") and message in p.stderr and len(p.stderr.strip().splitlines()) == 1
