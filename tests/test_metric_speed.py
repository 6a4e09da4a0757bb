"""benchmarks.metric_speed, run small: every engine, time and ratio printed, the agreement it asserts."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from benchmarks import metric_speed


def test_prints_every_engine_and_ratio_and_checks_agreement(coco_root, capsys):
    pytest.importorskip("panopticapi.evaluation")
    metric_speed.main(["--data", str(coco_root), "--copies", "1", "--images", "12", "--repeats", "1"])
    out = capsys.readouterr().out
    for line in ("PQ, real slice (3 images)", "PQ, 1 perturbed copies (6 images)", "identical to panopticapi (1e-9)",
                 "whole process wall:", "in-process call:", "one core, per image:", "(Pillow) and",
                 "COCO mask AP, class-aware: 12 synthetic images,", "1200 results (100 an image)",
                 "seglab coco_instance_metrics", "pycocotools COCOeval", "faster-coco-eval COCOeval_faster",
                 "all 12 numbers identical in the three (1e-9)", "seglab against pycocotools: speed-up"):
        assert line in out, line
    assert out.count("speed-up") == 7  # 3 per PQ set (wall, in-process, one core) and 1 for COCO
    assert out.count("peak memory +") == 3


def test_engines_agree_on_the_synthetic_set(tmp_path):
    from benchmarks.metric_data import synthetic_instances
    from seglab.formats import write_json

    gt, results = synthetic_instances(images=8, detections=10)
    gt_json, pred_json = str(write_json(tmp_path / "gt.json", gt)), str(write_json(tmp_path / "pred.json", results))
    scored = [metric_speed.score(name, gt_json, pred_json) for name in metric_speed.ENGINES]
    for other in scored[1:]:
        np.testing.assert_allclose(other["stats"], scored[0]["stats"], rtol=0, atol=1e-9)  # NaNs equal too
    assert all(s["seconds"] > 0 and s["cpu"] > 0 and s["peak"] >= 0 for s in scored)


def test_without_panopticapi_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "panopticapi", None)  # as if not installed
    with pytest.raises(SystemExit, match="pip install --no-deps panopticapi-lite==0.2.0"):
        metric_speed.main([])
