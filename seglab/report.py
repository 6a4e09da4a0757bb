"""Benchmark results as a table and as plotly figures, shared by ``benchmarks.plot`` and the app's dashboard.

A results folder (written by ``python -m benchmarks.run``) holds ``results.csv`` / ``results.json``
(one row per model x task x dataset: metrics under their usual names, latency, memory,
environment) and ``latency.csv`` (one row per image). Accuracy of rows whose ``weights`` is
``random-init (latency only)`` is meaningless and is left out of the accuracy figures.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import SeglabError

KEYS = ("model", "task", "dataset")
REQUIRED = KEYS + ("weights", "n_images")
LATENCY_REQUIRED = KEYS + ("latency_ms",)
# the headline metric of each task: what the bars and the scatter show
PRIMARY = {"promptable": "AR@100", "instance": "AP", "panoptic": "PQ", "semantic": "mIoU", "depth": "delta1",
           "interactive": "mIoU@1"}
CLICKS = ("mIoU@1", "mIoU@2", "mIoU@3", "mIoU@5")
METRIC_COLUMNS = ("AR@100", "AP", "AP50", "AP75", "mIoU", "PQ", "SQ", "RQ", "PQ_th", "PQ_st", "pixel_acc",
                  "delta1", "AbsRel", "RMSE", *CLICKS, "NoC@85", "NoC@90", "box mIoU")
# the ``weights`` column: besides "pretrained", the offline default model and random weights (latency only)
OFFLINE = "offline default (embedded)"
RANDOM = "random-init (latency only)"


class ResultsFileError(SeglabError, ValueError):
    """A results file is missing, unreadable or lacks the columns a benchmark writes."""


# ----------------------------------------------------------------------------- reading and writing

def _read_table(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise ResultsFileError(f"no results file at {path}")
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            df = pd.DataFrame(data["rows"] if isinstance(data, dict) and "rows" in data else data)
        elif path.suffix == ".csv":
            df = pd.read_csv(path)
        else:
            raise ResultsFileError(f"{path} is neither a .csv nor a .json results file")
    except (ValueError, TypeError, KeyError, pd.errors.ParserError, UnicodeDecodeError) as err:
        if isinstance(err, ResultsFileError):
            raise
        raise ResultsFileError(f"{path} is not a readable results table ({type(err).__name__}: {err})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ResultsFileError(f"{path} is not a benchmark results file: missing column(s) {', '.join(missing)}")
    return df


def load_results(path: str | Path) -> pd.DataFrame:
    """The results table from a folder (its ``results.csv``, else ``results.json``) or a .csv / .json file."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.csv" if (path / "results.csv").is_file() else path / "results.json"
    return _read_table(path, REQUIRED)


def load_latencies(path: str | Path) -> pd.DataFrame:
    """Per-image latencies (``latency.csv``) from a folder or the file; empty when a folder has none."""
    path = Path(path)
    if path.is_dir():
        path = path / "latency.csv"
        if not path.is_file():
            return pd.DataFrame(columns=list(LATENCY_REQUIRED))
    return _read_table(path, LATENCY_REQUIRED)


def _upsert(old: pd.DataFrame | None, new: pd.DataFrame, key: dict[str, Any]) -> pd.DataFrame:
    if old is None or old.empty:
        return new.reset_index(drop=True)
    same = pd.Series(True, index=old.index)
    for k, v in key.items():
        same &= old[k].astype(str) == str(v)
    return pd.concat([old[~same], new], ignore_index=True)


def update_results(out_dir: str | Path, row: dict[str, Any], latencies: list[dict[str, Any]] = ()) -> pd.DataFrame:
    """Add ``row`` to ``out_dir``'s results (replacing the row of the same model x task x dataset) and its
    per-image latencies to ``latency.csv``; writes results.csv and results.json; returns the table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = {k: row[k] for k in KEYS}
    old = load_results(out_dir) if (out_dir / "results.csv").is_file() else None
    df = _upsert(old, pd.DataFrame([row]), key)
    front = [c for c in row if c in df.columns]
    df = df[front + [c for c in df.columns if c not in front]]
    df.to_csv(out_dir / "results.csv", index=False)
    records = json.loads(df.to_json(orient="records"))
    (out_dir / "results.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    lat_path = out_dir / "latency.csv"
    old_lat = load_latencies(lat_path) if lat_path.is_file() else None
    _upsert(old_lat, pd.DataFrame(list(latencies), columns=None if latencies else list(LATENCY_REQUIRED)),
            key).to_csv(lat_path, index=False)
    return df


# ----------------------------------------------------------------------------- figures

def _published(model: str, metric: str, dataset: str) -> float | None:
    from .errors import UnknownModelError
    from .registry import get_spec

    try:
        return get_spec(model).published_value(metric, dataset)
    except UnknownModelError:
        return None


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def accuracy_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per result with a meaningful headline metric: columns model, task, dataset, metric,
    reproduced, published, weights, latency_p50_ms (random-init rows are left out)."""
    rows = []
    for _, r in df.iterrows():
        metric = PRIMARY.get(r["task"])
        if r.get("weights") == RANDOM or metric is None or metric not in df.columns:
            continue
        value = _num(r.get(metric))
        if value is None:
            continue
        rows.append({"model": r["model"], "task": r["task"], "dataset": r["dataset"], "metric": metric,
                     "reproduced": value, "published": _published(r["model"], metric, r["dataset"]),
                     "weights": r.get("weights"), "n_images": r.get("n_images"),
                     "latency_p50_ms": _num(r.get("latency_p50_ms"))})
    return pd.DataFrame(rows, columns=["model", "task", "dataset", "metric", "reproduced", "published", "weights",
                                       "n_images", "latency_p50_ms"])


def _empty(title: str, message: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False)
    return fig


def metric_bars(df: pd.DataFrame):
    """Headline metric per model (AR@100, AP, PQ, mIoU, delta1), the published number beside the reproduced one."""
    import plotly.graph_objects as go

    acc = accuracy_rows(df)
    title = "Reproduced vs published (headline metric per task)"
    if acc.empty:
        return _empty(title, "no pretrained or embedded result with a metric yet")
    label = acc["model"] + "<br>" + acc["metric"] + " · " + acc["dataset"]
    fig = go.Figure([
        go.Bar(name="reproduced", x=label, y=acc["reproduced"], text=acc["reproduced"].round(1),
               customdata=acc[["n_images", "weights"]], hovertemplate="%{y:.2f}<br>n=%{customdata[0]} "
               "images<br>weights: %{customdata[1]}<extra>reproduced</extra>"),
        go.Bar(name="published", x=label, y=acc["published"], text=acc["published"],
               hovertemplate="%{y:.2f}<extra>published (registry)</extra>"),
    ])
    fig.update_layout(title=title, barmode="group", yaxis_title="metric (percent; delta1 as a fraction)")
    return fig


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows not dominated by another (lower ``x`` and higher ``y`` are better), sorted by ``x``."""
    front, best = [], -math.inf
    for _, r in points.sort_values([x, y], ascending=[True, False]).iterrows():
        if r[y] > best:
            front.append(r)
            best = r[y]
    return pd.DataFrame(front, columns=points.columns)


def accuracy_latency(df: pd.DataFrame):
    """Accuracy vs warm p50 latency per model, one colour per task metric, with each metric's Pareto front."""
    import plotly.graph_objects as go

    acc = accuracy_rows(df).dropna(subset=["latency_p50_ms"])
    title = "Accuracy vs latency (warm p50)"
    if acc.empty:
        return _empty(title, "no result with both a metric and a latency yet")
    fig = go.Figure()
    for metric, group in acc.groupby("metric", sort=False):
        fig.add_trace(go.Scatter(x=group["latency_p50_ms"], y=group["reproduced"], mode="markers+text",
                                 text=group["model"], textposition="top center", name=metric))
        front = pareto_front(group, "latency_p50_ms", "reproduced")
        fig.add_trace(go.Scatter(x=front["latency_p50_ms"], y=front["reproduced"], mode="lines",
                                 line={"dash": "dash"}, name=f"{metric} Pareto front"))
    fig.update_layout(title=title, xaxis_title="latency p50 (ms, log)", xaxis_type="log", yaxis_title="metric")
    return fig


def latency_distribution(latencies: pd.DataFrame):
    """Per-image end-to-end latency per model (warm calls; cold first calls shown apart)."""
    import plotly.express as px

    title = "Per-image latency (end-to-end)"
    if latencies.empty:
        return _empty(title, "no per-image latencies yet")
    lat = latencies.copy()
    lat["call"] = lat["cold"].map(lambda c: "cold (first)" if str(c).lower() == "true" else "warm") \
        if "cold" in lat.columns else "warm"
    lat["run"] = lat["model"] + " · " + lat["task"]
    fig = px.box(lat, x="run", y="latency_ms", color="call", points="all", log_y=True, title=title,
                 hover_data=[c for c in ("image", "weights", "device") if c in lat.columns])
    fig.update_layout(xaxis_title="", yaxis_title="latency (ms, log)")
    return fig


def clicks_curve(df: pd.DataFrame):
    """mIoU after 1, 2, 3, 5 clicks for interactive rows (columns ``mIoU@k``)."""
    import plotly.graph_objects as go

    title = "Interactive segmentation: mIoU vs clicks"
    cols = [c for c in CLICKS if c in df.columns]
    rows = df[df[cols].notna().any(axis=1)] if cols else df.iloc[0:0]
    if rows.empty:
        return _empty(title, "no interactive result yet")
    fig = go.Figure()
    for _, r in rows.iterrows():
        ks = [int(c.split("@")[1]) for c in cols if _num(r[c]) is not None]
        fig.add_trace(go.Scatter(x=ks, y=[float(r[f"mIoU@{k}"]) for k in ks], mode="lines+markers",
                                 name=f"{r['model']} · {r['dataset']}"))
    fig.update_layout(title=title, xaxis_title="clicks", yaxis_title="mIoU")
    return fig


def figures(results: pd.DataFrame, latencies: pd.DataFrame | None = None) -> dict[str, Any]:
    """Every report figure by name (the clicks chart only when interactive rows exist)."""
    out = {"metric_bars": metric_bars(results), "accuracy_latency": accuracy_latency(results),
           "latency_distribution": latency_distribution(latencies if latencies is not None else pd.DataFrame())}
    if any(c in results.columns for c in CLICKS):
        out["clicks_curve"] = clicks_curve(results)
    return out


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """The results for display: identity, the metrics present, latency and memory, environment; rounded."""
    metric_cols = [c for c in df.columns if c in METRIC_COLUMNS]
    front = ["model", "task", "dataset", "weights", "n_images", "n_failed"]
    speed = ["latency_p50_ms", "latency_p90_ms", "latency_cold_ms", "forward_p50_ms", "images_per_s", "peak_mem_mb"]
    env = ["device", "dtype", "world_size", "torch", "transformers", "date"]
    cols = [c for c in front + metric_cols + speed + env if c in df.columns]
    return df[cols].round(2)
