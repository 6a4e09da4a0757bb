"""The CLI, run as a user runs it: models listing, predict on a real image, clear errors and exit codes."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from app_weights import save_tiny_models
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, columns: int = 200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seglab", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": str(columns)})


def test_models_json_lists_every_task():
    r = run("models", "--json")
    assert r.returncode == 0
    rows = json.loads(r.stdout)
    assert {m["task"] for m in rows} == {"promptable", "semantic", "instance", "panoptic", "part", "depth"}
    assert all({"id", "task", "hub_id", "license", "offline", "published"} <= set(m) for m in rows)
    depth = json.loads(run("models", "--task", "depth", "--json").stdout)
    assert depth and all(m["task"] == "depth" for m in depth)


def test_predict_with_the_offline_default(tmp_path, coco_image_path):
    r = run("predict", "embedded-u2netp-grabcut", str(coco_image_path), "--box", "380,60,520,360",
            "--point", "450,200", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "result.json").read_text())
    assert len(data["masks"]) == 1 and 0 <= data["masks"][0]["score"] <= 1
    assert (tmp_path / "result_mask.png").exists()
    overlay = np.asarray(Image.open(tmp_path / "result_overlay.png"))
    assert (overlay[200, 380] == [40, 120, 255]).all()  # the box's left edge, drawn as the app draws it
    assert (overlay[200, 450] == [40, 220, 60]).all()  # the positive point's marker


def test_predict_takes_weights_from_a_path(tmp_path, coco_image_path):
    weights = save_tiny_models(tmp_path / "weights", ("sam-vit-base",)) / "sam-vit-base"
    r = run("predict", "sam-vit-base", str(coco_image_path), "--box", "100,50,400,300", "--weights", str(weights),
            "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert len(json.loads((tmp_path / "out" / "result.json").read_text())["masks"]) == 1  # offline: only there


@pytest.mark.parametrize("args,msg", [
    (["predict", "no-such-model", "x.jpg", "--out", "o"], "unknown model"),
    (["predict", "embedded-u2netp-grabcut", "requirements.txt", "--box", "1,1,9,9", "--out", "o"], "not an image"),
    (["predict", "embedded-u2netp-grabcut", "IMG", "--box", "5,5,5,50", "--out", "o"], "zero area"),
    (["predict", "embedded-u2netp-grabcut", "IMG", "--point", "5000,5", "--out", "o"], "outside"),
    (["predict", "embedded-u2netp-grabcut", "IMG", "--out", "o"], "no prompt"),
    (["predict", "sam-vit-base", "IMG", "--box", "1,1,50,50", "--out", "o"], "seglab download sam-vit-base"),
    (["predict", "segformer-b0-ade", "IMG", "--box", "1,1,50,50", "--out", "o"], "takes no --point, --box"),
    (["predict", "sam-vit-base", "IMG", "--box", "1,1,50,50", "--weights", "nowhere", "--out", "o"],
     "--weights nowhere: no such file or folder"),
    (["predict", "embedded-u2netp-grabcut", "IMG", "--text", "dog", "--out", "o"], "does not take text prompts"),
    (["download"], "name a model"),
])
def test_bad_input_gives_one_line_and_exit_2_fast(args, msg, coco_image_path, tmp_path):
    args = [str(coco_image_path) if a == "IMG" else str(tmp_path / "o") if a == "o" else a for a in args]
    start = time.perf_counter()
    r = run(*args)
    assert time.perf_counter() - start < 3  # checked before torch or a model loads (a generous bound)
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_box_syntax_is_an_argparse_error():
    r = run("predict", "embedded-u2netp-grabcut", "x.jpg", "--box", "1,2,3", "--out", "o")
    assert r.returncode == 2 and "needs 4 numbers" in r.stderr


def test_markdown_table_lists_every_model_and_readme_is_in_sync():
    r = run("models", "--markdown")
    assert r.returncode == 0
    from seglab.registry import MODELS

    assert all(f"`{m.id}`" in r.stdout for m in MODELS)
    readme = (ROOT / "README.md").read_text()
    missing = [m.id for m in MODELS if f"`{m.id}`" not in readme]
    assert not missing, f"README model table is stale (regenerate with `python -m seglab models --markdown`): {missing}"


@pytest.mark.parametrize("columns", [80, 120])
def test_models_table_fits_the_terminal(columns):
    r = run("models", columns=columns)
    assert r.returncode == 0 and max(len(line) for line in r.stdout.splitlines()) <= columns
    from seglab.registry import MODELS

    assert len(r.stdout.splitlines()) >= len(MODELS) + 1  # every model, long cells wrapped in their column
