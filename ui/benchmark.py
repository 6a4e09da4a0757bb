"""The Benchmark tab: the benchmark runner's results table and its plotly charts (reproduced vs
published, accuracy vs latency, per-image latency), from the results folder or an uploaded file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from seglab import report

from .common import user_errors

RESULTS = Path(__file__).resolve().parents[1] / "results"
CHARTS = ("metric_bars", "accuracy_latency", "latency_distribution")


def dashboard(path: str | Path) -> tuple[pd.DataFrame, Any, Any, Any, str]:
    """(table, three figures, a one-line summary) of a results folder or results file."""
    results = report.load_results(path)
    path = Path(path)
    latencies = report.load_latencies(path if path.is_dir() else path.with_name("latency.csv")) \
        if path.is_dir() or path.with_name("latency.csv").is_file() else pd.DataFrame()
    figs = report.figures(results, latencies)
    models = results["model"].nunique()
    return (results, *(figs[name] for name in CHARTS),
            f"{len(results)} results of {models} model{'s' * (models != 1)} from `{path.name}`")


def folder_dashboard(results_dir: Path) -> tuple:
    """The dashboard of the results folder, or empty charts and a sentence when it has no results yet."""
    try:
        return dashboard(results_dir)
    except report.ResultsFileError:
        empty = pd.DataFrame(columns=list(report.REQUIRED))
        figs = report.figures(empty, pd.DataFrame())
        return (empty, *(figs[name] for name in CHARTS),
                f"No benchmark results in `{results_dir}` yet: run `python -m benchmarks.run`, or upload a file.")


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
        summary = gr.Markdown(elem_id="benchmark-summary")
        upload = gr.File(label="Your results.csv / results.json", file_types=[".csv", ".json"], scale=1,
                         height=120)
    table = gr.Dataframe(label="Results (one row per model × task × dataset)", wrap=True, max_height=360)
    with gr.Row():
        bars, scatter = gr.Plot(), gr.Plot()
    latency = gr.Plot()
    outputs = [table, bars, scatter, latency, summary]

    def load_folder() -> tuple:
        return folder_dashboard(folder)

    upload.upload(uploaded, upload, outputs, api_name="benchmark_upload")
    return load_folder, outputs
