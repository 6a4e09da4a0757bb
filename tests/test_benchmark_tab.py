"""The Benchmark tab's handlers: the model zoo filter, the results folder (searched recursively) or an
uploaded file as a compact table plus a plot and a note per chart, and unreadable uploads named as the user
named them."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

import seglab
from seglab import report
from ui import benchmark

CHART_SLOTS = len(benchmark.CHARTS)


def unpack(outputs: tuple) -> tuple[dict, dict, dict, str]:
    """(table update, {chart: plot update}, {chart: note}, summary) of a dashboard's outputs."""
    table, *charts, summary = outputs
    plots = dict(zip(benchmark.CHARTS, charts[0::2]))
    notes = dict(zip(benchmark.CHARTS, charts[1::2]))
    return table, plots, notes, summary


def test_outputs_match_the_charts_of_the_report():
    assert len(benchmark.CHARTS) == CHART_SLOTS
    names = [c.name for c in report.report_charts(report.load_results(benchmark.RESULTS))]
    assert tuple(names) == benchmark.CHARTS


def test_shipped_results_show_every_chart_or_the_sentence_saying_why_not():
    table, plots, notes, summary = unpack(benchmark.folder_dashboard(benchmark.RESULTS))
    shipped = report.load_results(benchmark.RESULTS)
    assert table["value"]["model"].tolist() == shipped["model"].tolist()
    widths = table["column_widths"]
    assert len(widths) == len(table["value"].columns) and sum(widths) <= benchmark.FIT_PX  # a desktop's width
    assert not plots["reproduced"]["visible"] and "Nothing reproduced" in notes["reproduced"]
    assert "```bash\npython -m seglab download " in notes["reproduced"]
    assert plots["latency"]["visible"] and plots["clicks"]["visible"] and plots["accuracy_latency"]["visible"]
    assert f"{len(shipped)} results" in summary


def test_a_results_file_upload(tmp_path: Path):
    report.update_results(tmp_path, {"model": "sam-vit-huge", "task": "promptable", "dataset": "coco-val2017",
                                     "weights": "pretrained", "n_images": 5, "AR@100": 40.0, "AP": 44.0,
                                     "latency_p50_ms": 80.0, "protocol": "coco-vitdet-h-boxes"})
    table, plots, notes, summary = unpack(benchmark.uploaded(str(tmp_path / "results.json")))
    assert table["value"]["model"].tolist() == ["sam-vit-huge"] and "1 results" in summary
    assert "results.json" in summary
    reproduced = plots["reproduced"]["value"]
    assert plots["reproduced"]["visible"] and {t.name for t in reproduced.data} == {"reproduced here", "published"}
    assert benchmark.folder_dashboard(tmp_path)[0]["value"].columns[0] == "model"  # one folder: no folder column
    assert benchmark.folder_dashboard(tmp_path / "empty")[-1].startswith("No benchmark results")


def test_an_unreadable_upload_keeps_the_dashboard_and_names_the_users_file(tmp_path: Path):
    upload = tmp_path / "gradio-temp-1234" / "my results.csv"  # Gradio keeps the user's name in its temp folder
    upload.parent.mkdir()
    upload.write_text("a,b\n1,2\n")
    with pytest.warns(UserWarning, match="my results.csv is not"):  # gr.Warning: the toast, outside a server
        *kept, status = benchmark.uploaded(str(upload))
    assert len(kept) == benchmark.N_OUTPUTS - 1 and all(k == benchmark.gr.skip() for k in kept)
    assert "my results.csv is not a benchmark results file: missing column" in status
    assert "gradio-temp-1234" not in status


def test_the_run_folders_under_the_results_folder_are_gathered(tmp_path: Path):
    row = {"task": "semantic", "dataset": "ade20k", "weights": "pretrained", "n_images": 3, "mIoU": 30.0}
    latencies = [{"model": "segformer-b0-ade", "task": "semantic", "dataset": "ade20k", "latency_ms": 20.0}]
    report.update_results(tmp_path / "cpu" / "semantic", {"model": "segformer-b0-ade", **row}, latencies)
    report.update_results(tmp_path / "gpu", {"model": "segformer-b5-ade", **row})
    report.update_results(tmp_path / "gpu" / "predictions" / "x", {"model": "not-a-result", **row})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.csv").write_text("a,b\n1,2\n")
    table, plots, notes, summary = unpack(benchmark.folder_dashboard(tmp_path))
    assert table["value"][["folder", "model"]].values.tolist() == [["cpu/semantic", "segformer-b0-ade"],
                                                                  ["gpu", "segformer-b5-ade"]]
    assert "2 results of 2 models" in summary and "unreadable and skipped: broken" in summary
    assert [a.text for a in plots["latency"]["value"].layout.annotations if a.yref != "paper"] == ["segformer-b0-ade"]
    assert not plots["clicks"]["visible"] and "No interactive result" in notes["clicks"]


@pytest.mark.parametrize("task", [benchmark.ALL, *seglab.TASKS])
def test_the_model_zoo_filters_by_task(task: str):
    table, plot, _ = benchmark.zoo(task)
    models = seglab.list_models(None if task == benchmark.ALL else task)
    assert table["value"]["model"].tolist() == [m.id for m in models]
    assert plot["visible"] == any(m.published for m in models)


def test_the_benchmark_tab_draws_its_charts_when_opened_not_when_the_app_starts(monkeypatch):
    from ui import build_demo

    built, real = [], report.zoo_chart
    monkeypatch.setattr(report, "zoo_chart", lambda task=None: built.append(task) or real(task))
    benchmark.zoo_chart.cache_clear()
    demo = build_demo()
    assert built == []
    events = {f.fn.__name__: [(type(demo.blocks[b]).__name__, e) for b, e in f.targets if b in demo.blocks]
              for f in demo.fns.values() if f.fn is not None}
    assert events["load_folder"] == [("Tab", "select")] and events["zoo_chart_view"] == [("Accordion", "expand")]
    for _ in range(2):  # the accordion opened twice: one chart, built once
        plot, zoo_note = benchmark.zoo_chart_view(benchmark.ALL)
        assert plot["visible"] and plot["value"].layout.title.text == "Published numbers (registry)"
        assert "not measured here" in zoo_note
    assert built == [None]
    benchmark.zoo_chart.cache_clear()


def zoo_row(model_id: str) -> gr.SelectData:
    """The event of a click on a zoo table cell of ``model_id``'s row, as the browser sends it."""
    zoo = report.model_zoo()
    row = zoo.index[zoo["model"] == model_id][0]
    return gr.SelectData(None, {"index": [int(row), 2], "value": zoo.iloc[row, 2],
                                "row_value": zoo.iloc[row].tolist()})


TABS = {"promptable": "segment", "semantic": "semantic", "depth": "depth"}


def test_a_zoo_row_opens_its_model_on_its_tab():
    tab, *models, line = benchmark.zoo_choice(TABS)(zoo_row("segformer-b0-ade"))
    assert tab.selected == "semantic"
    assert models == [gr.skip(), gr.update(value="segformer-b0-ade"), gr.skip()]
    assert "segformer-b0-ade" in line and "Semantic tab" in line


def test_a_zoo_row_of_a_task_without_a_tab_says_so():
    tab, *models, line = benchmark.zoo_choice(TABS)(zoo_row("mask2former-swin-tiny-coco-panoptic"))
    assert tab == gr.skip() and models == [gr.skip()] * len(TABS)
    assert line.startswith("**mask2former-swin-tiny-coco-panoptic** is a panoptic model: no tab of the app runs it")


def test_the_app_wires_the_zoo_to_every_task_tab_and_its_model_list():
    from ui import build_demo

    demo = build_demo()
    (dep,) = [f for f in demo.fns.values() if f.fn is not None and f.fn.__name__ == "choose"]
    assert [(type(demo.blocks[b]).__name__, e) for b, e in dep.targets] == [("Dataframe", "select")]
    tabs, *models, line = dep.outputs
    assert isinstance(tabs, gr.Tabs) and line.elem_id == "zoo-choice"
    tab_of = {}
    for model in models:  # each model list sits in its task's tab
        block = model
        while not isinstance(block, gr.Tab):
            block = block.parent
        tab_of[block.id] = model
    assert list(tab_of) == ["segment", "semantic", "instance", "panoptic", "parts", "depth"]
    tab, *updates, _ = dep.fn(zoo_row("depth-pro"))
    assert tab.selected == "depth" and updates[-1] == gr.update(value="depth-pro")
    assert all(u == gr.skip() for u in updates[:-1])
