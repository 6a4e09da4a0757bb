"""Benchmark results as tables and charts, shared by ``benchmarks.plot`` and the app's Benchmark tab.

A results folder (written by ``python -m benchmarks.run``) holds ``results.csv`` / ``results.json``
(one row per model x task x dataset x protocol: metrics under their usual names, the ``protocol`` id,
latency, memory, environment; files written before the column are read as of unknown protocol) and
``latency.csv`` (one row per image). Accuracy of rows whose ``weights`` is ``random-init (latency only)`` is
meaningless and is left out of every accuracy table and chart.

A published number is put beside a reproduced one only where metric, data set and protocol are the same
(:func:`comparisons`); elsewhere a ``note`` says which protocol each used.

Tables: :func:`summary_table` (compact), :func:`full_table`, :func:`model_zoo` (the registry with its
published numbers). Charts (:class:`Chart`: a figure, or the sentence saying why there is none and the
commands that would fill it): :func:`report_charts` for results, :func:`zoo_chart` for the registry; their
layout lives in :mod:`seglab.charts`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import SeglabError, UnknownModelError

KEYS = ("model", "task", "dataset")
PROTOCOL = "protocol"  # the id of the test protocol a row ran (seglab.protocols); older files lack the column
REQUIRED = KEYS + ("weights", "n_images")
LATENCY_REQUIRED = KEYS + ("latency_ms",)
# the headline metric of each task: what the bars and the scatter show; protocols scored otherwise than their task
PRIMARY = {"promptable": "AR@100", "instance": "AP", "panoptic": "PQ", "semantic": "mIoU", "part": "mIoU",
           "depth": "delta1", "interactive": "mIoU@1"}
PROTOCOL_PRIMARY = {"coco-detection-boxes": "AP", "coco-vitdet-h-boxes": "AP"}  # class-aware mask AP
CLICKS = ("mIoU@1", "mIoU@2", "mIoU@3", "mIoU@5")
METRIC_COLUMNS = ("AR@100", "AP", "AP50", "AP75", "mIoU", "PQ", "SQ", "RQ", "PQ_th", "PQ_st", "pixel_acc",
                  "delta1", "AbsRel", "RMSE", *CLICKS, "NoC@85", "NoC@90", "box mIoU", "box AP", "mF1")
# the ``weights`` column: besides "pretrained", the offline default model, the offline baselines (the floor
# every model must beat) and random weights (latency only)
OFFLINE = "offline default (embedded)"
BASELINE = "offline baseline (no learned model)"
RANDOM = "random-init (latency only)"
RANDOM_SUFFIX = " (random-init)"  # benchmarks.run's model name for random-init rows
SHORT_WEIGHTS = {OFFLINE: "embedded", BASELINE: "baseline", RANDOM: "random"}
# the registry's data set names that benchmarks.run reads, with its flags for them
RUN_FLAGS = {"coco-val2017": "--coco-root coco", "coco-val2017-voc": "--coco-root coco",
             "cityscapes-val": "--dataset cityscapes --root DIR", "mapillary-vistas-val": "--dataset mapillary --root DIR",
             "ade20k-val": "--dataset ade20k --root DIR", "celebamask-hq-test": "--dataset celebamask-hq --root DIR"}
# the benchmarks.run flags of the protocols a plain run of their task does not follow
PROTOCOL_FLAGS = {"coco-vitdet-h-boxes": "--prompt-boxes VITDET_H_RESULTS.json --prompt-boxes-from vitdet-h",
                  "coco-detection-boxes": "--prompt-boxes DETECTIONS.json",
                  "coco-gt-center-points": "--prompt center-point", "coco-everything": "--everything"}
# units of the metrics that are not percentages, and those where lower is better
UNITS = {"delta1": "fraction", "AbsRel": "relative", "RMSE": "m", "NoC@85": "clicks", "NoC@90": "clicks"}
LOWER_IS_BETTER = {"AbsRel", "RMSE", "NoC@85", "NoC@90"}
# registry ``Published`` metrics that are speeds (shown in the zoo's speed column, not as accuracy)
SPEED_METRICS = ("FPS",)
ZOO_COLUMNS = ["model", "task", "offline", "published", "protocol", "published speed", "input", "license", "source"]
SPEED_COLUMNS = {"latency_p50_ms": "p50 ms", "latency_cold_ms": "cold ms", "peak_mem_mb": "peak MB"}
SUMMARY_COLUMNS = ["model", "task · dataset", "weights", "headline", "published", "protocol", *SPEED_COLUMNS.values(),
                   "images", "other metrics", "note"]


class ResultsFileError(SeglabError, ValueError):
    """A results file is missing, unreadable or lacks the columns a benchmark writes."""


# ----------------------------------------------------------------------------- reading and writing

def _read_table(path: Path, required: tuple[str, ...], name: str | None = None) -> pd.DataFrame:
    name = name or str(path)
    if not path.is_file():
        raise ResultsFileError(f"no results file at {name}")
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            df = pd.DataFrame(data["rows"] if isinstance(data, dict) and "rows" in data else data)
        elif path.suffix == ".csv":
            df = pd.read_csv(path)
        else:
            raise ResultsFileError(f"{name} is neither a .csv nor a .json results file")
    except (ValueError, TypeError, KeyError, pd.errors.ParserError, UnicodeDecodeError) as err:
        if isinstance(err, ResultsFileError):
            raise
        raise ResultsFileError(f"{name} is not a readable results table ({type(err).__name__}: {err})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ResultsFileError(f"{name} is not a benchmark results file: missing column(s) {', '.join(missing)}")
    return df


def load_results(path: str | Path, name: str | None = None) -> pd.DataFrame:
    """The results table from a folder (its ``results.csv``, else ``results.json``) or a .csv / .json file;
    errors call the file ``name`` (e.g. the name a user uploaded it under), by default its path."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.csv" if (path / "results.csv").is_file() else path / "results.json"
    return _read_table(path, REQUIRED, name)


def load_latencies(path: str | Path) -> pd.DataFrame:
    """Per-image latencies (``latency.csv``) from a folder or the file; empty when a folder has none."""
    path = Path(path)
    if path.is_dir():
        path = path / "latency.csv"
        if not path.is_file():
            return pd.DataFrame(columns=list(LATENCY_REQUIRED))
    return _read_table(path, LATENCY_REQUIRED)


def _upsert(old: pd.DataFrame | None, new: pd.DataFrame, key: dict[str, Any]) -> pd.DataFrame:
    """``old`` without the rows of run ``key`` (model, task, dataset, protocol), then ``new``; an old row of unknown
    protocol (none recorded) is replaced by any new run of its model x task x dataset."""
    if old is None or old.empty:
        return new.reset_index(drop=True)
    same = pd.Series(True, index=old.index)
    for k, v in key.items():
        if k == PROTOCOL:
            recorded = old[k].astype("string").fillna("") if k in old.columns else pd.Series("", index=old.index)
            same &= (recorded == str(v)) | (recorded == "")
        else:
            same &= old[k].astype(str) == str(v)
    return pd.concat([old[~same], new], ignore_index=True)


def update_results(out_dir: str | Path, row: dict[str, Any], latencies: list[dict[str, Any]] = ()) -> pd.DataFrame:
    """Add ``row`` to ``out_dir``'s results (replacing the row of the same model x task x dataset x protocol) and
    its per-image latencies to ``latency.csv``; writes results.csv and results.json; returns the table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = {k: row[k] for k in (*KEYS, PROTOCOL) if k in row}
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


# ----------------------------------------------------------------------------- tables

def _spec(model: str):
    from .registry import get_spec

    try:
        return get_spec(model)
    except UnknownModelError:
        return None


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def axis_title(metric: str) -> str:
    """The metric with its unit, and which way is better when lower is: "PQ (%)", "RMSE (m, lower is better)"."""
    unit = UNITS.get(metric, "%")
    return f"{metric} ({unit}{', lower is better' * (metric in LOWER_IS_BETTER)})"


def row_protocol(r: pd.Series | dict) -> str:
    """The protocol id a results row ran; '' for a row whose file predates the column (never paired)."""
    value = r.get(PROTOCOL)
    return value if isinstance(value, str) else ""


def headline_metric(r: pd.Series | dict) -> str:
    """A row's headline metric: its protocol's (:data:`PROTOCOL_PRIMARY`), else its task's (:data:`PRIMARY`)."""
    return PROTOCOL_PRIMARY.get(row_protocol(r), PRIMARY.get(r["task"], ""))


def _same_protocol(p: Any, r: pd.Series) -> bool:
    """A published number ``p`` was measured as row ``r`` was: same data set and the same, known, protocol."""
    return p.dataset == r["dataset"] and bool(p.protocol) and p.protocol == row_protocol(r)


def _paired(spec: Any, metric: str, r: pd.Series) -> float | None:
    """The published ``metric`` of ``spec`` measured under row ``r``'s data set and protocol, else None."""
    return next((p.value for p in spec.published if p.metric == metric and _same_protocol(p, r)), None) \
        if spec else None


def protocol_note(r: pd.Series) -> str:
    """Where the registry quotes a number of the row's model on its data set under another (or an unrecorded)
    protocol, which protocol each used: "published AP 46.5 under coco-vitdet-h-boxes; this run: coco-gt-boxes"."""
    spec = _spec(r["model"])
    others = [p for p in (spec.published if spec else ()) if p.metric not in SPEED_METRICS
              and p.dataset == r["dataset"] and not _same_protocol(p, r)]
    if not others:
        return ""
    published = ", ".join(f"{p.metric} {p.value:g} under {p.protocol or 'an unrecorded protocol'}" for p in others)
    return f"published {published}; this run: {row_protocol(r) or 'protocol not recorded'}"


def describe_protocol(protocol_id: str) -> str:
    """A protocol's id and its one-line description ("coco-vitdet-h-boxes (the network's own resize; ...)")."""
    from .protocols import get_protocol

    if not protocol_id:
        return "protocol not recorded"
    try:
        described = get_protocol(protocol_id).describe()
    except UnknownModelError:
        return f"{protocol_id} (not in seglab.protocols)"
    return f"{protocol_id} ({described})" if described else protocol_id


def published_numbers(task: str | None = None) -> pd.DataFrame:
    """Every accuracy number the registry quotes (speeds apart), one row each: model, task, metric, dataset,
    published, source."""
    from .registry import list_models

    rows = [{"model": s.id, "task": s.task, "metric": p.metric, "dataset": p.dataset, "published": p.value,
             "source": p.source} for s in list_models(task) for p in s.published if p.metric not in SPEED_METRICS]
    return pd.DataFrame(rows, columns=["model", "task", "metric", "dataset", "published", "source"])


def model_zoo(task: str | None = None) -> pd.DataFrame:
    """The registry as a table to choose a model by: whether it runs offline (its weights ship with seglab, as the
    README's Models table says), published numbers (and speed, where published), the protocol each was measured
    under, where they come from, input size and license; every model (of ``task``), with or without numbers. The
    speed column is there only when some registry model has a published speed."""
    from .registry import list_models

    rows = []
    for spec in list_models(task):
        scores = [p for p in spec.published if p.metric not in SPEED_METRICS]
        speeds = [p for p in spec.published if p.metric in SPEED_METRICS]
        rows.append({"model": spec.id, "task": spec.task, "offline": "yes" if spec.offline else "no",
                     "published": "; ".join(f"{p.metric} {p.value:g} ({p.dataset})" for p in scores),
                     "protocol": "; ".join(f"{p.metric}: {describe_protocol(p.protocol)}" for p in scores),
                     "published speed": "; ".join(f"{p.value:g} {p.metric} ({p.source})" for p in speeds),
                     "input": spec.input_size, "license": spec.license,
                     "source": "; ".join(dict.fromkeys(p.source for p in spec.published))})
    speed_known = any(p.metric in SPEED_METRICS for s in list_models() for p in s.published)
    columns = [c for c in ZOO_COLUMNS if speed_known or c != "published speed"]
    return pd.DataFrame(rows, columns=ZOO_COLUMNS)[columns]


def comparisons(df: pd.DataFrame) -> pd.DataFrame:
    """Reproduced next to published, for every metric of a result that the registry also quotes on the same
    dataset under the same protocol (a row without a recorded protocol is never paired; random-init rows are
    left out): model, task, dataset, protocol, metric, reproduced, published, source, n_images."""
    rows = []
    for _, r in df[df["weights"] != RANDOM].iterrows():
        spec = _spec(r["model"])
        for p in spec.published if spec else ():
            value = _num(r.get(p.metric))
            if _same_protocol(p, r) and value is not None:
                rows.append({"model": r["model"], "task": r["task"], "dataset": r["dataset"], "protocol": p.protocol,
                             "metric": p.metric, "reproduced": value, "published": p.value, "source": p.source,
                             "n_images": r.get("n_images")})
    return pd.DataFrame(rows, columns=["model", "task", "dataset", "protocol", "metric", "reproduced", "published",
                                       "source", "n_images"])


def accuracy_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per result with a meaningful headline metric (:func:`headline_metric`): model, task, dataset,
    protocol, metric, reproduced, published (only when measured under the same protocol), note (which protocol
    each used otherwise), weights, n_images, latency_p50_ms (random-init rows are left out)."""
    rows = []
    for _, r in df.iterrows():
        metric = headline_metric(r)
        value = _num(r.get(metric)) if metric else None
        if r.get("weights") == RANDOM or value is None:
            continue
        rows.append({"model": r["model"], "task": r["task"], "dataset": r["dataset"], "protocol": row_protocol(r),
                     "metric": metric, "reproduced": value, "published": _paired(_spec(r["model"]), metric, r),
                     "note": protocol_note(r), "weights": r.get("weights"), "n_images": r.get("n_images"),
                     "latency_p50_ms": _num(r.get("latency_p50_ms"))})
    return pd.DataFrame(rows, columns=["model", "task", "dataset", "protocol", "metric", "reproduced", "published",
                                       "note", "weights", "n_images", "latency_p50_ms"])


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """The results, compact, columns that matter first: the model, what it ran on, the headline metric (with
    the published value, only when measured under the same protocol), the protocol, latency and memory, the
    number of images, the other metrics in one column, and a note saying which protocol each side used where a
    published number was measured otherwise. Random-init rows show no accuracy."""
    rows = []
    for _, r in df.iterrows():
        metric, real = headline_metric(r), r.get("weights") != RANDOM
        value = _num(r.get(metric)) if real and metric else None
        published = _paired(_spec(r["model"]), metric, r) if value is not None else None
        others = [f"{c} {_num(r[c]):.1f}" for c in METRIC_COLUMNS
                  if real and c != metric and c in df.columns and _num(r[c]) is not None]
        rows.append({"model": r["model"], "task · dataset": f"{r['task']} · {r['dataset']}",
                     "weights": SHORT_WEIGHTS.get(r.get("weights"), r.get("weights")),
                     "headline": f"{metric} {value:.1f}" if value is not None else "",
                     "published": f"{published:g}" if published is not None else "", "protocol": row_protocol(r),
                     **{label: _num(r.get(column)) for column, label in SPEED_COLUMNS.items()},
                     "images": _num(r.get("n_images")), "other metrics": " · ".join(others),
                     "note": protocol_note(r) if real else ""})
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    numbers = [*SPEED_COLUMNS.values(), "images"]
    table[numbers] = table[numbers].astype(float).round(0).astype("Int64")
    empty = [c for c in table.columns[3:] if table[c].replace("", None).isna().all()] if len(table) else []
    return table.drop(columns=empty)


def full_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every column worth reading (identity, all metrics, latency and memory, environment), rounded."""
    metric_cols = [c for c in df.columns if c in METRIC_COLUMNS]
    front = ["model", "task", "dataset", PROTOCOL, "weights", "n_images", "n_failed"]
    speed = ["latency_p50_ms", "latency_p90_ms", "latency_cold_ms", "forward_p50_ms", "images_per_s", "peak_mem_mb"]
    env = ["device", "dtype", "world_size", "torch", "transformers", "date"]
    return df[[c for c in front + metric_cols + speed + env if c in df.columns]].round(2)


# ----------------------------------------------------------------------------- charts

@dataclass(frozen=True)
class Chart:
    """One chart of the report: its figure, or None with a sentence saying why there is none (and how to get
    it); ``note`` may also say what a drawn figure shows."""

    name: str
    title: str
    figure: Any = None
    note: str = ""
    commands: tuple[str, ...] = ()  # shell lines that would fill the chart


def reproduce_commands(df: pd.DataFrame) -> tuple[str, ...]:
    """The commands that would put a published number beside a reproduced one, for a model of ``df`` (a
    random-init row stands for its pretrained twin) whose registry entry quotes one on a data set
    ``benchmarks.run`` reads, else the first such registry model."""
    from .registry import list_models

    rows = [(_spec(str(r["model"]).removesuffix(RANDOM_SUFFIX)), r["task"]) for _, r in df.iterrows()]
    specs = [s for s, task in rows if s and s.task == task] + list(list_models())
    spec, p = next((s, p) for s in specs for p in s.published if p.dataset in RUN_FLAGS)
    flags = " ".join(filter(None, (RUN_FLAGS[p.dataset], PROTOCOL_FLAGS.get(p.protocol))))
    return (f"python -m seglab download {spec.id}",
            f"python -m benchmarks.run --task {spec.task} --models {spec.id} \\\n    {flags} --out results/<run>")


def _facet(r: pd.Series) -> str:
    return f"{r['metric']} · {r['dataset']}"


def zoo_chart(task: str | None = None) -> Chart:
    """The registry's published numbers, one facet per metric and dataset, best first."""
    from . import charts

    title = "Published numbers (registry)"
    pub = published_numbers(task)
    if pub.empty:
        return Chart("published", title, None, f"No {task or ''} model of the registry quotes a published number.")
    facets = {}
    for key, group in pub.assign(facet=pub.apply(_facet, axis=1)).groupby("facet", sort=False):
        lower = group["metric"].iloc[0] in LOWER_IS_BETTER
        facets[key] = group.sort_values("published", ascending=lower).assign(label=group["model"],
                                                                                note=group["source"])
    titles = {k: axis_title(g["metric"].iloc[0]) for k, g in facets.items()}
    fig = charts.bar_facets(facets, title, [("published", "published", charts.PUBLISHED)], titles)
    return Chart("published", title, fig, "As reported by each model's authors or weights card (hover for the "
                 "source); not measured here.")


def reproduced_chart(df: pd.DataFrame) -> Chart:
    from . import charts

    title = "Reproduced vs published"
    both = comparisons(df)
    if both.empty:
        return Chart("reproduced", title, None, "Nothing reproduced here has a published number to compare with "
                     "yet (the offline model has none; random-weight rows time the architecture only). To "
                     "reproduce one:", reproduce_commands(df))
    facets = {k: g.assign(label=g["model"], note=g["n_images"].astype(str) + " images; " + g["protocol"]
                          + "; published: " + g["source"])
              for k, g in both.assign(facet=both.apply(_facet, axis=1)).groupby("facet", sort=False)}
    titles = {k: axis_title(g["metric"].iloc[0]) for k, g in facets.items()}
    fig = charts.bar_facets(facets, title, [("reproduced", "reproduced here", charts.REPRODUCED),
                                            ("published", "published", charts.PUBLISHED)], titles)
    return Chart("reproduced", title, fig)


def accuracy_latency_chart(df: pd.DataFrame) -> Chart:
    from . import charts

    title = "Accuracy vs latency"
    acc = accuracy_rows(df).dropna(subset=["latency_p50_ms"])
    if acc.empty:
        return Chart("accuracy_latency", title, None, "No result has both an accuracy and a latency yet.")
    acc = acc.rename(columns={"reproduced": "value", "latency_p50_ms": "latency_ms"})
    facets = {k: g for k, g in acc.assign(facet=acc.apply(_facet, axis=1)).groupby("facet", sort=False)}
    fronts = {k: pareto_front(g, "latency_ms", "value", lower_is_better=g["metric"].iloc[0] in LOWER_IS_BETTER)
              for k, g in facets.items()}
    titles = {k: axis_title(g["metric"].iloc[0]) for k, g in facets.items()}
    return Chart("accuracy_latency", title, charts.scatter_facets(facets, title, titles, fronts),
                 "Headline metric per task against the warm median latency per image; the dashed line joins the "
                 "results no other is both faster and better than.")


def pareto_front(points: pd.DataFrame, x: str, y: str, lower_is_better: bool = False) -> pd.DataFrame:
    """Rows not dominated by another (lower ``x`` and higher ``y``, or lower with ``lower_is_better``, are
    better), sorted by ``x``."""
    sign = -1 if lower_is_better else 1
    front, best = [], -math.inf
    for _, r in points.sort_values([x, y], ascending=[True, lower_is_better]).iterrows():
        if sign * r[y] > best:
            front.append(r)
            best = sign * r[y]
    return pd.DataFrame(front, columns=points.columns)


def latency_chart(latencies: pd.DataFrame) -> Chart:
    from . import charts

    title = "Per-image latency"
    if latencies is None or latencies.empty:
        return Chart("latency", title, None, "No per-image latencies yet (benchmarks.run writes latency.csv).")
    lat = latencies.copy()
    lat["cold"] = lat["cold"].astype(str).str.lower().eq("true") if "cold" in lat.columns else False
    if "image" not in lat.columns:
        lat["image"] = ""
    lat[PROTOCOL] = lat[PROTOCOL].astype("string").fillna("") if PROTOCOL in lat.columns else ""
    runs = {}  # labelled by the model, plus its task, data set and protocol where it has several
    for (model, *run), group in lat.groupby(["model", "task", "dataset", PROTOCOL], sort=False):
        mine = lat[lat["model"] == model]
        extra = [v for v, column in zip(run, ("task", "dataset", PROTOCOL)) if mine[column].nunique() > 1]
        runs[" · ".join([str(model), *map(str, extra)])] = group
    return Chart("latency", title, charts.latency_boxes(runs, title),
                 "End to end: decoding, pre-processing, the network, post-processing and encoding, all prompts of "
                 "the image; the cold first call of each process is shown apart.")


def clicks_chart(df: pd.DataFrame) -> Chart:
    from . import charts

    title = "Interactive: mIoU after each click"
    cols = [c for c in CLICKS if c in df.columns]
    rows = df[df[cols].notna().any(axis=1)] if cols else df.iloc[0:0]
    if rows.empty:
        return Chart("clicks", title, None, "No interactive result yet; simulated clicks on COCO instances:",
                     ("python -m benchmarks.run --task interactive --models embedded-u2netp-grabcut \\\n"
                      "    --coco-root coco --out results/<run>",))
    lines = {}
    for _, r in rows.iterrows():
        ks = [int(c.split("@")[1]) for c in cols if _num(r[c]) is not None]
        lines[f"{r['model']} · {r['dataset']}"] = (ks, [float(r[f"mIoU@{k}"]) for k in ks])
    ticks = sorted({k for ks, _ in lines.values() for k in ks})
    return Chart("clicks", title, charts.line_facet(lines, title, "clicks", axis_title("mIoU"), ticks),
                 "Simulated clicks (SAM protocol): each next click on the largest error.")


def report_charts(results: pd.DataFrame, latencies: pd.DataFrame | None = None) -> list[Chart]:
    """Every results chart, in reading order: reproduced vs published, accuracy vs latency, per-image latency,
    mIoU vs clicks. Each is drawn, or says why it is not."""
    return [reproduced_chart(results), accuracy_latency_chart(results),
            latency_chart(latencies if latencies is not None else pd.DataFrame()), clicks_chart(results)]

