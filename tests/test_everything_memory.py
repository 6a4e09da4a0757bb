"""benchmarks.everything_memory, run small: one size through the Segment tab's handlers, every figure measured."""
from __future__ import annotations

import pytest

from benchmarks import everything_memory


def test_one_size_keeps_every_mask_and_measures_memory_and_estimate():
    pytest.importorskip("cv2")
    row = everything_memory.one(0.27, "embedded-u2netp-grabcut")  # the example itself, 640 x 427
    assert row["size"] == "640x427" and row["megapixels"] == 0.27
    assert row["masks"] > 1 and row["json_masks"] == row["masks"]  # the downloads hold every mask kept
    assert row["done"].startswith("Done: ")
    assert row["estimate_s"] > 0 and row["run_s"] > 0 and row["downloads_s"] > 0
    assert 0 < row["base_mb"] <= row["peak_mb"]


def test_enlarges_the_example_to_the_asked_megapixels():
    pytest.importorskip("cv2")
    row = everything_memory.one(0.5, "embedded-u2netp-grabcut")
    width, height = (int(v) for v in row["size"].split("x"))
    assert abs(width / height - 4 / 3) < 0.01 and abs(width * height / 1e6 - 0.5) < 0.01
    assert row["json_masks"] == row["masks"] > 0
