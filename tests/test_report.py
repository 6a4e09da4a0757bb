"""seglab.report: reading and updating results tables, the compact and zoo tables, the charts (one metric per
axis, labelled rows, round log ticks); benchmarks.plot's HTML report."""
from __future__ import annotations

import dataclasses
import html
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import plot
from seglab import Published, get_spec, list_models, registry
from seglab.charts import LABEL_CHARS, ROW_PX, format_ms, log_ticks, ms_axis, short_label
from seglab.protocols import get_protocol
from seglab.report import (
    OFFLINE,
    RANDOM,
    SPEED_METRICS,
    ResultsFileError,
    accuracy_latency_chart,
    accuracy_rows,
    axis_title,
    clicks_chart,
    comparisons,
    latency_chart,
    load_latencies,
    load_results,
    model_zoo,
    pareto_front,
    published_numbers,
    report_charts,
    reproduce_commands,
    reproduced_chart,
    summary_table,
    update_results,
    zoo_chart,
)

SHIPPED = Path(__file__).resolve().parents[1] / "results"


def result(model: str, task: str, weights: str = "pretrained", protocol: str | None = None, **values) -> dict:
    """A results row as benchmarks.run writes it; ``protocol`` defaults to what a plain run of the task records."""
    if protocol is None:
        protocol = {"promptable": "coco-gt-boxes", "interactive": "coco-gt-clicks"}.get(task) or get_spec(model).protocol
    return {"model": model, "task": task, "dataset": "coco-val2017", "protocol": protocol, "weights": weights,
            "n_images": 3, "n_failed": 0, **values}


def lat(model: str, task: str, values: list[float], protocol: str = "") -> list[dict]:
    return [{"model": model, "task": task, "dataset": "coco-val2017", "protocol": protocol, "image": str(i),
             "latency_ms": v, "cold": i == 0} for i, v in enumerate(values)]


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    update_results(tmp_path, result("maskrcnn-resnet50-fpn", "instance", AP=30.0, latency_p50_ms=80.0),
                   lat("maskrcnn-resnet50-fpn", "instance", [200, 80, 90]))
    update_results(tmp_path, result("embedded-u2netp-grabcut", "promptable", OFFLINE, **{"AR@100": 40.0},
                                    latency_p50_ms=20.0), lat("embedded-u2netp-grabcut", "promptable", [50, 20]))
    update_results(tmp_path, result("sam-vit-base", "promptable", RANDOM, **{"AR@100": 1.0}, latency_p50_ms=900.0),
                   lat("sam-vit-base", "promptable", [1000, 900]))
    return tmp_path


def facet_titles(fig) -> list[str]:
    """The subplot titles (the annotations placed at paper y above each facet)."""
    return [a.text for a in fig.layout.annotations if a.yref == "paper" and a.text]


def row_labels(fig) -> list[str]:
    """The row labels written above the rows (annotations placed on a y axis)."""
    return [a.text for a in fig.layout.annotations if a.yref != "paper"]


# ----------------------------------------------------------------------------- files

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
    with pytest.raises(ResultsFileError, match=r"^mine\.json is not a readable") as err:
        load_results(bad / "r.json", name="mine.json")  # the name the user knows, not the server's path
    assert str(bad) not in str(err.value)


# ----------------------------------------------------------------------------- tables

def test_accuracy_rows_skip_random_weights_and_carry_the_published_number(results_dir: Path):
    acc = accuracy_rows(load_results(results_dir)).set_index("model")
    assert "sam-vit-base" not in acc.index
    assert acc.loc["maskrcnn-resnet50-fpn", "published"] == get_spec("maskrcnn-resnet50-fpn").published_value("AP")
    assert acc.loc["embedded-u2netp-grabcut", "metric"] == "AR@100"


def test_comparisons_only_where_reproduced_and_published_both_exist(results_dir: Path):
    both = comparisons(load_results(results_dir))
    published = get_spec("maskrcnn-resnet50-fpn").published_value("AP")
    assert both[["model", "metric", "reproduced", "published"]].values.tolist() == [
        ["maskrcnn-resnet50-fpn", "AP", 30.0, published]]  # the embedded model has no published AR@100


def test_summary_table_is_compact_with_the_columns_that_matter_first(results_dir: Path):
    table = summary_table(load_results(results_dir)).set_index("model")
    assert list(table.columns[:3]) == ["task · dataset", "weights", "headline"]
    assert table.loc["maskrcnn-resnet50-fpn", "headline"] == "AP 30.0"
    published = get_spec("maskrcnn-resnet50-fpn").published_value("AP")
    assert table.loc["maskrcnn-resnet50-fpn", "published"] == f"{published:g}"
    assert table.loc["sam-vit-base", "headline"] == ""  # random weights: no accuracy shown
    assert table.loc["embedded-u2netp-grabcut", "p50 ms"] == 20
    assert "other metrics" not in table.columns  # no row has another metric: the empty column is dropped
    assert "timing_method" not in table.columns and len(table.columns) <= 10


def test_model_zoo_lists_every_registry_model_with_its_published_numbers():
    zoo = model_zoo()
    assert zoo["model"].tolist() == [s.id for s in list_models()]
    assert list(zoo.columns[:4]) == ["model", "task", "offline", "published"]
    assert {"input", "license", "source"} <= set(zoo.columns)
    row = zoo.set_index("model").loc["mask2former-swin-large-coco-panoptic"]
    spec = get_spec("mask2former-swin-large-coco-panoptic")
    assert f"PQ {spec.published_value('PQ'):g}" in row["published"] and row["source"] == spec.published[0].source
    assert set(model_zoo("depth")["task"]) == {"depth"}
    assert ("published speed" in zoo.columns) == any(p.metric in SPEED_METRICS for s in list_models()
                                                      for p in s.published)


def test_model_zoo_says_what_runs_offline_as_the_readme_does():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    models = readme[readme.index("## Models"):]
    offline = dict(re.findall(r"^\| `([^`]+)` \|[^|]*\|[^|]*\|[^|]*\| (yes|no) \|", models, flags=re.M))
    zoo = model_zoo().set_index("model")["offline"]
    assert len(offline) == len(zoo) and zoo.to_dict() == offline
    assert zoo["embedded-u2netp-grabcut"] == "yes" and zoo["sam-vit-huge"] == "no"


def test_model_zoo_shows_a_published_speed_where_the_registry_has_one(monkeypatch):
    spec = get_spec("sam2.1-hiera-tiny")
    fast = dataclasses.replace(spec, published=(Published("FPS", 47.2, "sa-v", "A100, its README"),))
    monkeypatch.setattr(registry, "list_models", lambda task=None: [fast])
    zoo = model_zoo()
    assert zoo.loc[0, "published speed"] == "47.2 FPS (A100, its README)" and zoo.loc[0, "published"] == ""
    assert published_numbers().empty  # a speed is not an accuracy


# ----------------------------------------------------------------------------- protocols

SAM_H = "sam-vit-huge"


def test_a_ground_truth_box_sam_row_is_not_paired_with_the_vitdet_h_number(tmp_path: Path):
    published = get_spec(SAM_H).published[0]
    assert (published.metric, published.value, published.protocol) == ("AP", 46.5, "coco-vitdet-h-boxes")
    update_results(tmp_path, result(SAM_H, "promptable", **{"AR@100": 60.0, "AP": 30.0}),
                   lat(SAM_H, "promptable", [900, 800], "coco-gt-boxes"))
    update_results(tmp_path, result(SAM_H, "promptable", protocol="coco-vitdet-h-boxes", AP=44.0, **{"AR@100": 55.0}),
                   lat(SAM_H, "promptable", [950, 850], "coco-vitdet-h-boxes"))
    df = load_results(tmp_path)
    assert sorted(df["protocol"]) == ["coco-gt-boxes", "coco-vitdet-h-boxes"]  # another protocol: another row
    assert comparisons(df)[["protocol", "metric", "reproduced", "published"]].values.tolist() == [
        ["coco-vitdet-h-boxes", "AP", 44.0, 46.5]]
    table = summary_table(df).set_index("protocol")
    assert table.loc["coco-vitdet-h-boxes", ["headline", "published", "note"]].tolist() == ["AP 44.0", "46.5", ""]
    assert table.loc["coco-gt-boxes", ["headline", "published"]].tolist() == ["AR@100 60.0", ""]
    assert table.loc["coco-gt-boxes", "note"] == "published AP 46.5 under coco-vitdet-h-boxes; this run: coco-gt-boxes"
    acc = accuracy_rows(df).set_index("protocol")
    assert pd.isna(acc.loc["coco-gt-boxes", "published"]) and acc.loc["coco-vitdet-h-boxes", "published"] == 46.5
    assert [list(t.x) for t in reproduced_chart(df).figure.data] == [[44.0], [46.5]]
    assert row_labels(latency_chart(load_latencies(tmp_path)).figure) == [f"{SAM_H} · coco-gt-boxes",
                                                                         f"{SAM_H} · coco-vitdet-h-boxes"]


def test_results_without_a_protocol_column_load_and_are_never_paired(tmp_path: Path):
    old = result("maskrcnn-resnet50-fpn", "instance", AP=30.0)
    del old["protocol"]
    pd.DataFrame([old]).to_csv(tmp_path / "results.csv", index=False)
    df = load_results(tmp_path)
    assert comparisons(df).empty and pd.isna(accuracy_rows(df).loc[0, "published"])
    row = summary_table(df).iloc[0]
    assert row["headline"] == "AP 30.0" and row.get("published", "") == ""
    assert row["note"].startswith("published AP 34.6 under torchvision-coco-maskrcnn")
    assert row["note"].endswith("; this run: protocol not recorded")
    update_results(tmp_path, result("maskrcnn-resnet50-fpn", "instance", AP=31.0))  # a new run replaces it
    df = load_results(tmp_path)
    assert df[["protocol", "AP"]].values.tolist() == [["torchvision-coco-maskrcnn", 31.0]]
    assert comparisons(df)["published"].tolist() == [34.6]


def test_model_zoo_names_the_protocol_of_every_published_number(monkeypatch):
    zoo = model_zoo().set_index("model")
    assert zoo.loc[SAM_H, "protocol"] == f"AP: coco-vitdet-h-boxes ({get_protocol('coco-vitdet-h-boxes').describe()})"
    assert "ViTDet-H's boxes" in zoo.loc[SAM_H, "protocol"]
    spec = get_spec("mask2former-swin-tiny-coco-panoptic")
    unknown = dataclasses.replace(spec, published=(Published("PQ", 50.0, "coco-val2017", "a blog"),))
    monkeypatch.setattr(registry, "list_models", lambda task=None: [unknown])
    assert model_zoo().loc[0, "protocol"] == "PQ: protocol not recorded"


def test_reproduce_commands_carry_the_flags_of_the_published_protocol():
    download, run = reproduce_commands(pd.DataFrame([{"model": SAM_H, "task": "promptable"}]))
    assert download.endswith(f" {SAM_H}")
    assert "--task promptable" in run and "--prompt-boxes VITDET_H_RESULTS.json --prompt-boxes-from vitdet-h" in run


# ----------------------------------------------------------------------------- charts

def test_reproduced_chart_one_facet_per_metric_and_dataset(results_dir: Path, tmp_path_factory):
    update_results(results_dir, result("mask2former-swin-tiny-coco-panoptic", "panoptic", PQ=50.0))
    chart = reproduced_chart(load_results(results_dir))
    assert facet_titles(chart.figure) == ["AP · coco-val2017", "PQ · coco-val2017"]
    assert row_labels(chart.figure) == ["maskrcnn-resnet50-fpn", "mask2former-swin-tiny-coco-panoptic"]
    bars = {(t.name, t.xaxis): list(t.x) for t in chart.figure.data}
    assert bars[("reproduced here", "x")] == [30.0] and bars[("reproduced here", "x2")] == [50.0]
    assert bars[("published", "x2")] == [get_spec("mask2former-swin-tiny-coco-panoptic").published_value("PQ")]
    assert chart.figure.layout.xaxis2.title.text == axis_title("PQ") == "PQ (%)"


def test_reproduced_chart_says_how_to_reproduce_when_nothing_compares():
    chart = reproduced_chart(load_results(SHIPPED))  # the offline model has no published number
    assert chart.figure is None and "Nothing reproduced" in chart.note
    download, run = chart.commands
    model = download.split()[-1]
    assert download == f"python -m seglab download {model}" and f"--models {model}" in run
    assert get_spec(model).published and f"--task {get_spec(model).task}" in run


def test_reproduce_commands_use_the_flags_of_the_models_data_set():
    rows = pd.DataFrame([{"model": "segformer-b0-ade (random-init)", "task": "semantic"},  # stands for its twin
                         {"model": "mask2former-swin-large-cityscapes-panoptic", "task": "panoptic"}])
    download, run = reproduce_commands(rows)
    assert download.endswith(" segformer-b0-ade")
    assert "--task semantic" in run and "--dataset ade20k --root DIR" in run
    download, run = reproduce_commands(rows.iloc[1:])
    assert download.endswith(" mask2former-swin-large-cityscapes-panoptic")
    assert "--task panoptic" in run and "--dataset cityscapes --root DIR" in run


def test_accuracy_latency_one_metric_per_axis_without_point_labels(results_dir: Path):
    update_results(results_dir, result("maskrcnn-resnet50-fpn-v2", "instance", AP=40.0, latency_p50_ms=120.0))
    fig = accuracy_latency_chart(load_results(results_dir)).figure
    assert facet_titles(fig) == ["AP · coco-val2017", "AR@100 · coco-val2017"]
    assert [fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text] == ["AP (%)", "AR@100 (%)"]
    points = [t for t in fig.data if t.mode == "markers"]
    assert all("text" not in t.mode for t in fig.data)  # models are told apart by colour and the legend
    assert {t.name for t in points} == {"maskrcnn-resnet50-fpn", "maskrcnn-resnet50-fpn-v2", "embedded-u2netp-grabcut"}
    fronts = [t for t in fig.data if t.name == "Pareto front"]
    assert [(t.yaxis, list(t.x)) for t in fronts] == [("y", [80.0, 120.0])]  # none for the one-point facet


def test_pareto_front_keeps_the_undominated_points():
    pts = pd.DataFrame({"ms": [10.0, 20.0, 30.0, 5.0], "acc": [50.0, 40.0, 60.0, 10.0]})
    assert pareto_front(pts, "ms", "acc")["ms"].tolist() == [5.0, 10.0, 30.0]
    assert pareto_front(pts, "ms", "acc", lower_is_better=True)["ms"].tolist() == [5.0]


@pytest.mark.parametrize("lo, hi", [(2, 12000), (20, 60), (0.4, 3), (150, 151), (1, 1e6)])
def test_log_ticks_are_few_round_values_covering_the_range(lo: float, hi: float):
    axis = ms_axis([lo, hi])
    ticks = axis["tickvals"]
    assert 2 <= len(ticks) <= 5 and ticks == sorted(ticks)
    for t in ticks:
        mantissa = t / 10 ** math.floor(math.log10(t) + 1e-9)
        assert round(mantissa, 6) in (1, 2, 3, 5)
    low, high = (10 ** v for v in axis["range"])
    assert low <= lo and high >= hi and all(low <= t <= high for t in ticks)
    assert axis["ticktext"] == [format_ms(t) for t in ticks]
    assert all(re.fullmatch(r"[\d.]+ (ms|s)", text) for text in axis["ticktext"])  # every tick has its unit
    assert log_ticks(lo, hi) == sorted(log_ticks(lo, hi))


def test_format_ms():
    assert [format_ms(v) for v in (20, 500, 1000, 2500)] == ["20 ms", "500 ms", "1 s", "2.5 s"]


def test_latency_chart_one_labelled_row_per_run(results_dir: Path):
    latencies = load_latencies(results_dir)
    fig = latency_chart(latencies).figure
    assert row_labels(fig) == ["maskrcnn-resnet50-fpn", "embedded-u2netp-grabcut", "sam-vit-base"]
    warm = [t for t in fig.data if t.type == "box"]
    cold = [t for t in fig.data if t.name == "cold first call"]
    assert sum(len(t.x) for t in warm) == 4 and sum(len(t.x) for t in cold) == 3 == int(latencies["cold"].sum())
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.ticktext
    assert not fig.layout.yaxis.showticklabels  # the labels are written above the rows, not beside the axis


def test_facets_keep_their_height_whatever_their_number():
    fig = zoo_chart().figure
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    pub = published_numbers()
    for i, (_, group) in enumerate(pub.groupby(["metric", "dataset"], sort=False), start=1):
        domain = fig.layout[f"yaxis{i if i > 1 else ''}"].domain
        assert (domain[1] - domain[0]) * plot_px == pytest.approx(ROW_PX * len(group), abs=2)


def test_zoo_chart_facets_per_metric_and_dataset_filtered_by_task():
    pub = published_numbers("panoptic")
    fig = zoo_chart("panoptic").figure
    assert sorted(facet_titles(fig)) == sorted({f"{m} · {d}" for m, d in zip(pub["metric"], pub["dataset"])})
    assert sorted(row_labels(fig)) == sorted(short_label(m) for m in pub["model"])
    assert (zoo_chart("depth").figure is None) == published_numbers("depth").empty


def test_long_row_labels_are_cut_in_the_middle_with_the_full_name_on_hover():
    assert short_label("sam-vit-huge") == "sam-vit-huge"
    tiny, large = "mask2former-swin-tiny-cityscapes-semantic", "mask2former-swin-large-cityscapes-semantic"
    assert short_label(tiny) != short_label(large)  # names differing in a middle word stay apart
    cut = short_label("mask2former-swin-large-mapillary-vistas-semantic")
    assert len(cut) == LABEL_CHARS and cut.startswith("mask2former-swin-") and cut.endswith("-vistas-semantic")
    assert "…" in cut
    labels = [a for a in zoo_chart().figure.layout.annotations if a.yref != "paper"]
    assert max(len(a.text) for a in labels) <= LABEL_CHARS
    ids = {s.id for s in list_models()}
    long = [a for a in labels if a.hovertext]
    assert long and all(a.hovertext in ids and a.text == short_label(a.hovertext) != a.hovertext for a in long)
    assert all(a.text in ids for a in labels if not a.hovertext)


def test_clicks_chart_for_interactive_rows(results_dir: Path):
    assert clicks_chart(load_results(results_dir)).figure is None
    update_results(results_dir, result("embedded-u2netp-grabcut", "interactive", OFFLINE,
                                       **{"mIoU@1": 50.0, "mIoU@2": 60.0, "mIoU@3": 65.0, "mIoU@5": 70.0}))
    fig = clicks_chart(load_results(results_dir)).figure
    assert list(fig.data[0].x) == [1, 2, 3, 5] and list(fig.data[0].y) == [50.0, 60.0, 65.0, 70.0]
    assert list(fig.layout.xaxis.tickvals) == [1, 2, 3, 5]


# ----------------------------------------------------------------------------- the HTML report

def test_plot_writes_a_self_contained_html_report(results_dir: Path, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert plot.main([str(results_dir), "--out", str(out), "--png-dir", str(out.parent / "png")]) == 0
    page = out.read_text()
    drawn = [c for c in report_charts(load_results(results_dir), load_latencies(results_dir)) if c.figure]
    assert page.count("Plotly.newPlot") == len(drawn) + 1  # the results' charts and the zoo's
    assert page.count("* plotly.js v") == 1 and '<script src="http' not in page  # plotly.js inlined, once
    assert "maskrcnn-resnet50-fpn" in page and "random weights" in page
    assert all(s.id in page for s in list_models())  # the model zoo table
    assert "PNG export skipped" in capsys.readouterr().out or (out.parent / "png" / "reproduced.png").is_file()


def test_plot_bad_input_exit_2(tmp_path: Path, capsys):
    assert plot.main([str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")]) == 2
    assert "no results file" in capsys.readouterr().err


def test_shipped_results_load_with_their_weights_marked(tmp_path: Path):
    df, latencies = load_results(SHIPPED), load_latencies(SHIPPED)
    offline = df[df["weights"] == OFFLINE].set_index("task")
    assert {"promptable", "interactive"} <= set(offline.index)
    assert 0 < offline.loc["promptable", "AR@100"] <= 100 and 0 < offline.loc["interactive", "mIoU@1"] <= 100
    random = df[df["weights"] == RANDOM]
    assert len(random) and random["model"].str.endswith("(random-init)").all()
    assert set(accuracy_rows(df)["model"]).isdisjoint(random["model"])
    assert set(latencies["model"]) == set(df["model"]) and df["timing_method"].notna().all()
    charts = {c.name: c for c in report_charts(df, latencies)}
    assert charts["clicks"].figure is not None and charts["latency"].figure is not None
    assert plot.main([str(SHIPPED), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "Nothing reproduced" in page and html.escape(charts["reproduced"].commands[0]) in page
