"""seglab.report: reading and updating results tables, and the figures; benchmarks.plot's HTML report."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import plot
from seglab import get_spec
from seglab.report import (
    OFFLINE,
    RANDOM,
    ResultsFileError,
    accuracy_latency,
    accuracy_rows,
    clicks_curve,
    figures,
    latency_distribution,
    load_latencies,
    load_results,
    metric_bars,
    pareto_front,
    summary_table,
    update_results,
)


def result(model: str, task: str, weights: str = "pretrained", **values) -> dict:
    return {"model": model, "task": task, "dataset": "coco-val2017", "weights": weights, "n_images": 3,
            "n_failed": 0, **values}


def lat(model: str, task: str, values: list[float]) -> list[dict]:
    return [{"model": model, "task": task, "dataset": "coco-val2017", "image": str(i), "latency_ms": v,
             "cold": i == 0} for i, v in enumerate(values)]


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    update_results(tmp_path, result("maskrcnn-resnet50-fpn", "instance", AP=30.0, latency_p50_ms=80.0),
                   lat("maskrcnn-resnet50-fpn", "instance", [200, 80, 90]))
    update_results(tmp_path, result("embedded-u2netp-grabcut", "promptable", OFFLINE, **{"AR@100": 40.0},
                                    latency_p50_ms=20.0), lat("embedded-u2netp-grabcut", "promptable", [50, 20]))
    update_results(tmp_path, result("sam-vit-base", "promptable", RANDOM, **{"AR@100": 1.0}, latency_p50_ms=900.0),
                   lat("sam-vit-base", "promptable", [1000, 900]))
    return tmp_path


def test_update_replaces_the_same_model_task_dataset(results_dir: Path):
    update_results(results_dir, result("maskrcnn-resnet50-fpn", "instance", AP=31.0, latency_p50_ms=70.0),
                   lat("maskrcnn-resnet50-fpn", "instance", [70]))
    df = load_results(results_dir)
    assert len(df) == 3
    assert df.set_index("model").loc["maskrcnn-resnet50-fpn", "AP"] == 31.0
    rows = json.loads((results_dir / "results.json").read_text())
    assert {r["model"] for r in rows} == set(df["model"])
    latencies = load_latencies(results_dir)
    assert latencies[latencies["model"] == "maskrcnn-resnet50-fpn"]["latency_ms"].tolist() == [70]
    assert len(latencies) == 5


def test_load_results_reads_csv_json_and_rejects_bad_files(results_dir: Path, tmp_path_factory):
    assert load_results(results_dir / "results.json")["model"].tolist() == load_results(results_dir)["model"].tolist()
    bad = tmp_path_factory.mktemp("bad")
    with pytest.raises(ResultsFileError, match="no results file"):
        load_results(bad)
    (bad / "results.csv").write_text("model,score\na,1\n")
    with pytest.raises(ResultsFileError, match="missing column"):
        load_results(bad)
    (bad / "r.json").write_text("{oops")
    with pytest.raises(ResultsFileError, match="not a readable results table"):
        load_results(bad / "r.json")
    (bad / "r.txt").write_text("")
    with pytest.raises(ResultsFileError, match="neither"):
        load_results(bad / "r.txt")


def test_accuracy_rows_skip_random_weights_and_carry_the_published_number(results_dir: Path):
    acc = accuracy_rows(load_results(results_dir)).set_index("model")
    assert "sam-vit-base" not in acc.index
    assert acc.loc["maskrcnn-resnet50-fpn", "published"] == get_spec("maskrcnn-resnet50-fpn").published_value("AP")
    assert acc.loc["embedded-u2netp-grabcut", "metric"] == "AR@100"


def test_pareto_front_keeps_the_undominated_points():
    pts = pd.DataFrame({"ms": [10.0, 20.0, 30.0, 5.0], "acc": [50.0, 40.0, 60.0, 10.0]})
    assert pareto_front(pts, "ms", "acc")["ms"].tolist() == [5.0, 10.0, 30.0]


def test_figures(results_dir: Path):
    df = load_results(results_dir)
    bars = metric_bars(df)
    assert [t.name for t in bars.data] == ["reproduced", "published"]
    assert pd.isna(list(bars.data[1].y)).sum() == 1  # the embedded model has no published AR@100
    assert {t.name for t in accuracy_latency(df).data} >= {"AP", "AR@100 Pareto front"}
    box = latency_distribution(load_latencies(results_dir))
    assert sum(len(t.y) for t in box.data) == 7
    assert set(figures(df)) == {"metric_bars", "accuracy_latency", "latency_distribution"}
    assert "timing_method" not in summary_table(df).columns


def test_clicks_curve_for_interactive_rows(results_dir: Path):
    update_results(results_dir, result("embedded-u2netp-grabcut", "interactive", OFFLINE,
                                       **{"mIoU@1": 50.0, "mIoU@2": 60.0, "mIoU@3": 65.0, "mIoU@5": 70.0}))
    fig = clicks_curve(load_results(results_dir))
    assert list(fig.data[0].x) == [1, 2, 3, 5] and list(fig.data[0].y) == [50.0, 60.0, 65.0, 70.0]
    assert "clicks_curve" in figures(load_results(results_dir))


def test_plot_writes_a_self_contained_html_report(results_dir: Path, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert plot.main([str(results_dir), "--out", str(out), "--png-dir", str(out.parent / "png")]) == 0
    page = out.read_text()
    assert page.count("Plotly.newPlot") == 3 and '<script src="http' not in page  # plotly.js inline
    assert "maskrcnn-resnet50-fpn" in page and "random weights" in page
    assert "PNG export skipped" in capsys.readouterr().out or (out.parent / "png" / "metric_bars.png").is_file()


def test_plot_bad_input_exit_2(tmp_path: Path, capsys):
    assert plot.main([str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")]) == 2
    assert "no results file" in capsys.readouterr().err


def test_shipped_results_load_with_their_weights_marked():
    shipped = Path(__file__).resolve().parents[1] / "results"
    df, latencies = load_results(shipped), load_latencies(shipped)
    offline = df[df["weights"] == OFFLINE].set_index("task")
    assert {"promptable", "interactive"} <= set(offline.index)
    assert 0 < offline.loc["promptable", "AR@100"] <= 100 and 0 < offline.loc["interactive", "mIoU@1"] <= 100
    random = df[df["weights"] == RANDOM]
    assert len(random) and random["model"].str.endswith("(random-init)").all()
    assert set(accuracy_rows(df)["model"]).isdisjoint(random["model"])
    assert set(latencies["model"]) == set(df["model"]) and df["timing_method"].notna().all()
    assert "clicks_curve" in figures(df, latencies)
