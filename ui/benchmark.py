"""The Benchmark tab: the benchmark runner's results table and its plotly charts (reproduced vs
published, accuracy vs latency, per-image latency, mIoU vs clicks), from the results folder or an uploaded file.

The results folder is searched recursively: ``python -m benchmarks.run --out results/<run>`` writes
``results.csv`` / ``results.json`` / ``latency.csv`` into each run's folder; with several, the table
names each row's folder.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from seglab import report

from .common import user_errors

RESULTS = Path(__file__).resolve().parents[1] / "results"
CHARTS = ("metric_bars", "accuracy_latency", "latency_distribution", "clicks_curve")
RESULT_FILES = ("results.csv", "results.json")
SKIPPED = "predictions"  # benchmarks.run keeps its raw predictions there, not results


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


def charts(results: pd.DataFrame, latencies: pd.DataFrame) -> tuple:
    """The :data:`CHARTS` figures; the clicks chart is drawn (empty, with a note) even without interactive rows."""
    figs = report.figures(results, latencies)
    if "clicks_curve" not in figs:
        figs["clicks_curve"] = report.clicks_curve(results)
    return tuple(figs[name] for name in CHARTS)


def dashboard(path: str | Path) -> tuple:
    """(table, the :data:`CHARTS` figures, a one-line summary) of a results folder (searched recursively)
    or of one results file."""
    path, broken = Path(path), []
    if path.is_dir():
        results, latencies, broken = collect(path)
    else:
        results = report.load_results(path)
        beside = path.with_name("latency.csv")
        latencies = report.load_latencies(beside) if beside.is_file() else pd.DataFrame()
    table = report.summary_table(results)
    if "folder" in results and results["folder"].nunique() > 1:
        table.insert(0, "folder", results["folder"])
    models = results["model"].nunique()
    summary = f"{len(results)} results of {models} model{'s' * (models != 1)} from `{path.name}`"
    if broken:
        summary += f"; unreadable and skipped: {', '.join(broken)}"
    return (table, *charts(results, latencies), summary)


def folder_dashboard(results_dir: Path) -> tuple:
    """The dashboard of the results folder, or empty charts and a sentence when it has no results yet."""
    try:
        return dashboard(results_dir)
    except report.ResultsFileError:
        empty = pd.DataFrame(columns=list(report.REQUIRED))
        return (empty, *charts(empty, pd.DataFrame()),
                f"No benchmark results in `{results_dir}` yet: run `python -m benchmarks.run --out "
                f"{results_dir}/<run>`, or upload a results file.")


@user_errors
def uploaded(file: str | None) -> tuple:
    """The ``/benchmark_upload`` endpoint: the dashboard of a user's results.csv / results.json."""
    if not file:
        raise report.ResultsFileError("no file: upload a results.csv or results.json written by benchmarks.run")
    return dashboard(file)


def build(results_dir: str | Path | None = None) -> tuple:
    """The tab's widgets; returns (loader, outputs) for the app to run on every page load."""
    folder = Path(results_dir) if results_dir else RESULTS
    with gr.Row():
        with gr.Column(scale=2):
            summary = gr.Markdown(label="Summary", elem_id="benchmark-summary")
            reload = gr.Button("Reload the results folder", size="sm")
        upload = gr.File(label="Your results.csv / results.json", file_types=[".csv", ".json"], scale=1,
                         height=120)
    table = gr.Dataframe(label="Results (one row per model × task × dataset)", wrap=True, max_height=360)
    with gr.Row():
        bars, scatter = gr.Plot(label="Reproduced vs published"), gr.Plot(label="Accuracy vs latency")
    with gr.Row():
        latency, clicks = gr.Plot(label="Per-image latency"), gr.Plot(label="Interactive: mIoU vs clicks")
    outputs = [table, bars, scatter, latency, clicks, summary]

    def load_folder() -> tuple:
        return folder_dashboard(folder)

    upload.upload(uploaded, upload, outputs, api_name="benchmark_upload")
    reload.click(load_folder, None, outputs, api_name="benchmark_reload", api_visibility="undocumented")
    return load_folder, outputs
