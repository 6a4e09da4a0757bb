"""``benchmarks.reproduce``: a command for every published number that benchmarks.run accepts, and the README's
"Reproducing published numbers" table in sync with it."""
from __future__ import annotations

import shlex
from pathlib import Path

from benchmarks import reproduce, run
from seglab import MODELS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_published_accuracy_number_has_a_row_with_its_protocol():
    rows = reproduce.rows()
    expected = sum(p.metric != "FPS" for m in MODELS for p in m.published)
    assert len(rows) == expected
    sam = next(r for r in rows if r["model"] == "sam-vit-huge")
    assert "coco-vitdet-h-boxes" in sam["protocol"] and "--prompt-boxes" in sam["command"]


def test_every_command_is_one_benchmarks_run_accepts():
    commands = [r["command"] for r in reproduce.rows() if r["command"].startswith("python")]
    assert len(commands) >= 25
    for line in commands:
        argv = shlex.split(line)[3:]  # after "python -m benchmarks.run"
        args = run.parse_args([*argv, "--out", "results/x"])  # DIR / file placeholders parse as paths
        assert args.task and args.models


def test_a_metric_no_task_reports_says_so_instead_of_a_command():
    line = reproduce.command("mask2former-swin-large-cityscapes-panoptic", "panoptic", "mIoU", "cityscapes-val",
                             "mask2former-cityscapes-panoptic")
    assert line == "not yet: the panoptic benchmark does not report mIoU"


def test_readme_table_is_in_sync():
    text = README.read_text(encoding="utf-8")
    assert reproduce.markdown() in text, "regenerate the README table with `python -m benchmarks.reproduce`"
