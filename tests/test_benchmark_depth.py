"""The depth benchmark on NYU pairs (``--depth-root``) and its refusals for a recording without ``--root``; the
simulators' recordings are run in ``tests/test_datasets_carla.py`` and ``tests/test_datasets_habitat.py``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

MODEL = "depth-anything-v2-metric-indoor-small"


def test_nyu_pairs_are_scored_against_their_millimetre_pngs(nyu_root: Path, tmp_path: Path) -> None:
    from app_weights import save_tiny_models

    from benchmarks.run import main as run_main
    from seglab.formats import read_depth_png
    from seglab.metrics.depth import depth_metrics

    out = tmp_path / "out"
    assert run_main(["--task", "depth", "--depth-root", str(nyu_root), "--limit", "2", "--models", MODEL,
                     "--location", str(save_tiny_models(tmp_path / "weights", (MODEL,)) / MODEL), "--device", "cpu",
                     "--out", str(out)]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert (row["dataset"], row["n_images"], row["n_failed"]) == ("nyu-depth-v2", 2, 0)
    preds = sorted((out / "predictions" / MODEL / "depth" / "depth").glob("image_*.png"))
    expected = np.mean([depth_metrics(read_depth_png(p), read_depth_png(nyu_root / p.name.replace("image_", "depth_")),
                                      max_depth=10.0)["delta1"] for p in preds])
    assert len(preds) == 2 and row["delta1"] == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("dataset", ["carla", "habitat"])
def test_a_recording_without_root_or_in_another_layout_exits_2(tmp_path: Path, capsys, dataset: str) -> None:
    from benchmarks.run import main as run_main

    base = ["--task", "depth", "--dataset", dataset, "--models", MODEL, "--device", "cpu", "--out", str(tmp_path)]
    assert run_main(base) == 2
    assert f"--dataset {dataset} needs --root, the recording's folder" in capsys.readouterr().err
    (tmp_path / "rgb").mkdir()
    assert run_main([*base, "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing folder" in err and "depth: expected the depth" in err and len(err.strip().splitlines()) == 1
