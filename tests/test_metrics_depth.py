"""Depth metrics on the real NYU slice against a plain numpy re-derivation; alignment; streaming average."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seglab import DepthMap, SeglabError
from seglab.formats import FormatError, read_depth_png
from seglab.metrics import DepthEvaluator, depth_metrics
from seglab.metrics.depth import DEPTH_KEYS


@pytest.fixture(scope="module")
def nyu(nyu_root: Path) -> list[np.ndarray]:
    return [read_depth_png(nyu_root / f"depth_{i}.png") for i in range(10)]


def reference(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Eigen et al.'s formulas over gt > 0, written out plainly."""
    v = gt > 0
    g, p = gt[v].astype(np.float64), pred[v].astype(np.float64)
    t = np.maximum(g / p, p / g)
    return {"delta1": np.mean(t < 1.25), "delta2": np.mean(t < 1.5625), "delta3": np.mean(t < 1.953125),
            "AbsRel": np.mean(np.abs(g - p) / g), "SqRel": np.mean((g - p) ** 2 / g),
            "RMSE": np.sqrt(np.mean((g - p) ** 2)), "RMSE_log": np.sqrt(np.mean((np.log(g) - np.log(p)) ** 2)),
            "log10": np.mean(np.abs(np.log10(g) - np.log10(p)))}


def perturbed(gt: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (gt * rng.lognormal(0.05, 0.2, gt.shape) + 0.01).astype(np.float32)


def test_real_nyu_ground_truth_is_millimetres(nyu):
    for gt in nyu:
        v = gt[gt > 0]
        assert gt.dtype == np.float32 and 0.5 < v.min() and v.max() < 10


def test_metrics_equal_plain_numpy_and_average_per_image(nyu):
    ev = DepthEvaluator()
    rows = []
    for i, gt in enumerate(nyu):
        pred = perturbed(gt, i)
        ev.process(gt, pred, image=f"nyu{i}")
        ours, ref = ev.per_image[f"nyu{i}"], reference(pred, gt)
        for k in DEPTH_KEYS:
            assert ours[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-12), k
        rows.append(ref)
    r = ev.evaluate()
    assert r["images"] == 10
    for k in DEPTH_KEYS:
        assert r[k] == pytest.approx(np.mean([row[k] for row in rows]), rel=1e-9)
    assert 0.3 < r["delta1"] < r["delta2"] < r["delta3"] <= 1


def test_ground_truth_against_itself_is_perfect(nyu):
    r = depth_metrics(nyu[0], nyu[0])
    assert r["delta1"] == 1 and r["AbsRel"] == 0 and r["RMSE"] == 0


def test_median_scaling_and_scale_shift_recover_the_scale(nyu):
    gt = nyu[3]
    assert depth_metrics(3.7 * gt, gt)["delta1"] < 0.01
    assert depth_metrics(3.7 * gt, gt, align="median")["AbsRel"] < 1e-6
    disparity = 0.2 / np.where(gt > 0, gt, 1) + 5.0  # affine-invariant inverse depth, as MiDaS predicts
    r = depth_metrics(disparity, gt, align="scale_shift")
    assert r["delta1"] == 1 and r["AbsRel"] < 1e-5
    with pytest.raises(SeglabError, match="needs align='scale_shift'"):
        DepthEvaluator(align="median").process(DepthMap(gt), DepthMap(disparity, kind="relative"))
    relative = DepthEvaluator(align="scale_shift")
    assert relative.process(DepthMap(gt), DepthMap(disparity, kind="relative")) is None
    assert relative.evaluate()["delta1"] == 1 and list(relative.per_image) == ["0"]


def test_range_and_errors(nyu):
    gt = nyu[0]
    capped = depth_metrics(perturbed(gt, 1), gt, max_depth=2.0)
    assert capped != depth_metrics(perturbed(gt, 1), gt)
    with pytest.raises(FormatError, match="resize it first"):
        depth_metrics(gt[:-1], gt)
    with pytest.raises(FormatError, match="no valid pixel"):
        depth_metrics(gt, np.zeros_like(gt))
    assert np.isnan(DepthEvaluator().evaluate()["RMSE"])
