"""The Benchmark tab: the model zoo (every registry model with its published numbers, filterable by task),
then the benchmark runner's results (a compact table and the charts of :func:`seglab.report.report_charts`)
from the results folder or an uploaded file.

The results folder is searched recursively: ``python -m benchmarks.run --out results/<run>`` writes
``results.csv`` / ``results.json`` / ``latency.csv`` into each run's folder; with several, the table
names each row's folder.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

import seglab
from seglab import TASKS, report

from .common import user_errors

RESULTS = Path(__file__).resolve().parents[1] / "results"
RESULT_FILES = ("results.csv", "results.json")
SKIPPED = "predictions"  # benchmarks.run keeps its raw predictions there, not results
ALL = "all tasks"
CHARTS = ("reproduced", "accuracy_latency", "latency", "clicks")  # report.report_charts, in its order
N_OUTPUTS = 2 + 2 * len(CHARTS)  # the table, a plot and a note per chart, the summary
# the two tables' column widths in pixels, scaled down together when they add up to more than FIT_PX (the
# tab's width on a desktop); a phone scrolls the table sideways instead of stacking letters in narrow columns
FIT_PX = 1160
DEFAULT_PX = 90
RESULT_WIDTHS = {"folder": 110, "model": 200, "task · dataset": 170, "weights": 95, "headline": 110, "published": 90,
                 "protocol": 130, "p50 ms": 75, "cold ms": 75, "peak MB": 80, "images": 70, "other metrics": 200,
                 "note": 220}
ZOO_WIDTHS = {"model": 240, "task": 100, "offline": 70, "published": 230, "protocol": 260, "published speed": 160,
              "input": 90, "license": 190, "source": 290}


def result_folders(root: Path) -> list[Path]:
    """``root`` and every folder below it holding a results.csv or results.json, in path order."""
    found = {f.parent for name in RESULT_FILES for f in root.rglob(name)
             if SKIPPED not in f.relative_to(root).parts}
    return sorted(found)


def collect(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(results, per-image latencies, unreadable folders) of every results folder under ``root``;
    both tables get a ``folder`` column (the path below ``root``, "." for ``root`` itself)."""
    results, latencies, broken = [], [], []
    for folder in result_folders(root):
        name = folder.relative_to(root).as_posix()
        try:
            results.append(report.load_results(folder).assign(folder=name))
            latencies.append(report.load_latencies(folder).assign(folder=name))
        except report.ResultsFileError:
            broken.append(name)
    if not results:
        detail = f" (unreadable: {', '.join(broken)})" if broken else ""
        raise report.ResultsFileError(f"no benchmark results in {root} or its subfolders{detail}")
    return pd.concat(results, ignore_index=True), pd.concat(latencies, ignore_index=True), broken


def note(chart: report.Chart) -> str:
    """A chart's sentence as markdown: with its title when the chart is not drawn, and its commands as code."""
    text = f"**{chart.title}.** {chart.note}" if chart.figure is None else chart.note
    return text + ("\n```bash\n" + "\n".join(chart.commands) + "\n```" if chart.commands else "")


def chart_outputs(charts: list[report.Chart]) -> list[Any]:
    """Per chart: the plot (hidden when there is nothing to draw) and its note (why not, or what it shows)."""
    out: list[Any] = []
    for chart in charts:
        out += [gr.update(value=chart.figure, visible=chart.figure is not None), note(chart)]
    return out


def column_widths(columns: list[str], widths: dict[str, int]) -> list[int]:
    """Each column's width in pixels (:data:`DEFAULT_PX` for unknown ones), all scaled down to fit
    :data:`FIT_PX` when they add up to more."""
    wanted = [widths.get(c, DEFAULT_PX) for c in columns]
    scale = min(1.0, FIT_PX / max(sum(wanted), 1))
    return [int(w * scale) for w in wanted]


def table_view(table: pd.DataFrame, widths: dict[str, int]) -> dict:
    """A Dataframe update with the :func:`column_widths` of its columns."""
    return gr.update(value=table, column_widths=column_widths(list(table.columns), widths))


def dashboard(path: str | Path, name: str | None = None) -> tuple:
    """(table, plot and note per chart of :data:`CHARTS`, a one-line summary) of a results folder (searched
    recursively) or of one results file, which errors call ``name`` (default: its path)."""
    path, broken = Path(path), []
    if path.is_dir():
        results, latencies, broken = collect(path)
    else:
        results = report.load_results(path, name=name)
        beside = path.with_name("latency.csv")
        latencies = report.load_latencies(beside) if beside.is_file() else pd.DataFrame()
    table = report.summary_table(results)
    if "folder" in results and results["folder"].nunique() > 1:
        table.insert(0, "folder", results["folder"])
    models = results["model"].nunique()
    summary = f"{len(results)} results of {models} model{'s' * (models != 1)} from `{name or path.name}`"
    if broken:
        summary += f"; unreadable and skipped: {', '.join(broken)}"
    return (table_view(table, RESULT_WIDTHS), *chart_outputs(report.report_charts(results, latencies)), summary)


def folder_dashboard(results_dir: Path) -> tuple:
    """The dashboard of the results folder, or empty charts and a sentence when it has no results yet."""
    try:
        return dashboard(results_dir)
    except report.ResultsFileError:
        empty = pd.DataFrame(columns=list(report.REQUIRED))
        return (table_view(report.summary_table(empty), RESULT_WIDTHS), *chart_outputs(report.report_charts(empty)),
                f"No benchmark results in `{results_dir}` yet: run `python -m benchmarks.run --out "
                f"{results_dir}/<run>`, or upload a results file.")


def chosen(task: str | None) -> str | None:
    """The task a zoo filter names; None for every task."""
    return None if task in (None, "", ALL) else task


@functools.cache
def zoo_chart(task: str | None) -> report.Chart:
    """The registry's published-numbers chart of ``task`` (None: every task), built once: the registry does not
    change while the app runs."""
    return report.zoo_chart(task)


def zoo_chart_view(task: str) -> tuple:
    """(published-numbers chart, its note) of one task or all: filled when its accordion opens, so that building
    the app or loading the page draws no chart."""
    chart = zoo_chart(chosen(task))
    return gr.update(value=chart.figure, visible=chart.figure is not None), note(chart)


def zoo(task: str) -> tuple:
    """The ``/model_zoo`` endpoint: (registry table, published-numbers chart, its note) of one task or all."""
    return (table_view(report.model_zoo(chosen(task)), ZOO_WIDTHS),
            *zoo_chart_view(task))


def zoo_choice(tabs: dict[str, str]) -> Callable[[gr.SelectData], tuple]:
    """The zoo table's select handler for the app's task tabs ``tabs`` (task -> tab id, in the order of the model
    lists it sets): (the tab to open, each tab's model list, a line under the zoo). A row opens its model's tab
    with that model chosen; a model whose task has no tab gets a sentence saying so."""
    def choose(evt: gr.SelectData) -> tuple:
        model_id = str(evt.row_value[report.ZOO_COLUMNS.index("model")])
        task = seglab.get_spec(model_id).task
        if task not in tabs:
            return (gr.skip(), *(gr.skip() for _ in tabs),
                    f"**{model_id}** is a {task} model: no tab of the app runs it; the command line does "
                    f"(`python -m seglab predict {model_id} IMAGE --out DIR`).")
        return (gr.Tabs(selected=tabs[task]), *(gr.update(value=model_id) if t == task else gr.skip() for t in tabs),
                f"**{model_id}** chosen on the {tabs[task].capitalize()} tab.")

    return choose


@user_errors(keep=N_OUTPUTS)
def uploaded(file: str | None) -> tuple:
    """The ``/benchmark_upload`` endpoint: the dashboard of a user's results.csv / results.json. Errors name
    the file by the name it was uploaded under (Gradio keeps it as the temporary file's name)."""
    if not file:
        raise report.ResultsFileError("no file: upload a results.csv or results.json written by benchmarks.run")
    return dashboard(file, name=Path(file).name)


def build(results_dir: str | Path | None = None) -> tuple:
    """The tab's widgets; returns (loader, outputs) for the app to run when the tab is opened, and the zoo table
    and the line under it for the app to wire to its tabs (:func:`zoo_choice`). No chart is drawn before the tab
    is opened (nor plotly imported): users of the other tabs never pay for them."""
    folder = Path(results_dir) if results_dir else RESULTS
    gr.Markdown("### Model zoo\nEvery model seglab knows, with the numbers its authors published: choose a row "
                "to open that model on its tab, or reproduce its numbers with `benchmarks.run`.")
    task = gr.Radio([ALL, *TASKS], value=ALL, label="Task", elem_id="zoo-task")
    models = report.model_zoo()
    zoo_table = gr.Dataframe(value=models, label="Registry models", elem_id="zoo-table", wrap=True, max_height=420,
                             interactive=False, column_widths=column_widths(list(models), ZOO_WIDTHS), pinned_columns=1)
    zoo_line = gr.Markdown(elem_id="zoo-choice")
    with gr.Accordion("Published numbers as a chart", open=False) as zoo_accordion:
        zoo_note = gr.Markdown(elem_id="zoo-note")
        zoo_plot = gr.Plot(show_label=False, elem_id="zoo-chart")
    task.change(zoo, task, [zoo_table, zoo_plot, zoo_note], api_name="model_zoo")
    zoo_accordion.expand(zoo_chart_view, task, [zoo_plot, zoo_note], api_visibility="undocumented")

    gr.Markdown("### Benchmark results")
    with gr.Row():
        with gr.Column(scale=2, min_width=300):
            summary = gr.Markdown(elem_id="benchmark-summary")
            reload = gr.Button("Reload the results folder", size="sm")
        upload = gr.File(label="Your results.csv / results.json", file_types=[".csv", ".json"], scale=1,
                         elem_id="benchmark-upload", height=120, min_width=240)
    table = gr.Dataframe(label="Results (one row per model × task × dataset)", elem_id="benchmark-table",
                         wrap=True, max_height=400, interactive=False, pinned_columns=1)
    plots: list[Any] = []
    for pair in (CHARTS[:2], CHARTS[2:]):
        with gr.Row(equal_height=False):
            for name in pair:
                with gr.Column(min_width=360):
                    caption = gr.Markdown(elem_id=f"note-{name}")
                    plots += [gr.Plot(show_label=False, elem_id=f"chart-{name}"), caption]
    outputs = [table, *plots, summary]

    def load_folder() -> tuple:
        return folder_dashboard(folder)

    upload.upload(uploaded, upload, outputs, api_name="benchmark_upload")
    reload.click(load_folder, None, outputs, api_name="benchmark_reload", api_visibility="undocumented")
    return load_folder, outputs, zoo_table, zoo_line
