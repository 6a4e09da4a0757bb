"""Plotly figures of benchmark numbers, laid out to read at 1400 px and at phone width (~400 px).

Every figure is a vertical stack of facets, one metric per axis, each facet as wide as the figure.
Rows are labelled above their bar or box (inside the plot), so long model names never take width
from the axis; a label longer than a phone's plot is cut in the middle, its full text on hover. Colours are
explained in a legend under the plot. Log axes get 1-2-5 ticks with units.
``seglab.report`` turns results tables into these figures; nothing here reads files.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}
ROW_PX = 48  # height of one labelled row (its label above it, its bar or box below)
ROW_MARK = 0.42  # the part of a row (in rows) its marks take; the label sits above them
FACET_GAP_PX = 64  # between stacked facets: room for the next facet's title
TITLE_PX = 56
AXIS_PX = 48  # the x axis' ticks and title under each facet
MIN_SPAN = 8  # a log axis spans at least this factor
SCATTER_PX = 220  # the plot height of one scatter or line facet
# row labels longer than this are cut in the middle: at 12 px a character is about 6.3 px wide, and a facet is
# about 270 px wide in a 400 px window (headless Chromium), where 48 characters took 304 px
LABEL_CHARS = 40
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")
REPRODUCED, PUBLISHED = "#1f77b4", "#bbbbbb"


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def log_ticks(lo: float, hi: float, max_ticks: int = 5) -> list[float]:
    """Round values (1, 2, 5 times a power of ten, or sparser) spanning [lo, hi], at most ``max_ticks``."""
    lo, hi = max(min(lo, hi), 1e-9), max(lo, hi, 1e-9)
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0 ** k for k in range(first, last + 1) for m in mantissas]
        ticks = [t for t in ticks if lo / 1.6 <= t <= hi * 1.6]
        if len(ticks) <= max_ticks:
            return ticks
    step = math.ceil((last - first + 1) / max_ticks)
    return [10.0 ** k for k in range(first, last + 1, step)]


def format_ms(ms: float) -> str:
    """A duration for a tick label: "20 ms", "500 ms", "1 s", "2.5 s"."""
    return f"{ms:g} ms" if ms < 1000 else f"{ms / 1000:g} s"


def ms_axis(values: Sequence[float]) -> dict:
    """A log axis over millisecond ``values`` with :func:`log_ticks` labelled in ms / s."""
    positive = [float(v) for v in values if v and v > 0] or [1.0]
    lo, hi = min(positive), max(positive)
    middle = math.sqrt(lo * hi)
    lo, hi = min(lo, middle / MIN_SPAN ** 0.5), max(hi, middle * MIN_SPAN ** 0.5)  # a few ticks even for one value
    ticks = log_ticks(lo, hi)
    return {"type": "log", "tickvals": ticks, "ticktext": [format_ms(t) for t in ticks],
            "range": [math.log10(min(lo, ticks[0]) / 1.25), math.log10(max(hi, ticks[-1]) * 1.25)]}


def legend_height(names: Sequence[str], width_px: int = 360) -> int:
    """Pixels a horizontal legend of ``names`` needs when it wraps at phone width (``width_px``)."""
    if not names:
        return 0
    lines, used = 1, 0
    for name in names:
        entry = 44 + 7 * len(name)
        if used and used + entry > width_px:
            lines, used = lines + 1, 0
        used += entry
    return 16 + 22 * lines


def stacked(facets: Sequence[tuple[str, int]], title: str, legend: Sequence[str] = ()) -> go.Figure:
    """An empty figure of ``(facet title, plot height px)`` facets stacked top to bottom, each as wide as the
    figure, and room under them for a legend of the names ``legend``. Its height is the sum of the parts,
    so a facet keeps its size whatever the number of facets."""
    heights = [h for _, h in facets]
    legend_px = legend_height(legend)
    total = TITLE_PX + sum(heights) + AXIS_PX * len(facets) + FACET_GAP_PX * (len(facets) - 1) + legend_px
    plot_area = total - TITLE_PX - AXIS_PX - legend_px
    spacing = (AXIS_PX + FACET_GAP_PX) / plot_area if len(facets) > 1 else 0
    fig = make_subplots(rows=len(facets), cols=1, subplot_titles=[t for t, _ in facets], row_heights=heights,
                        vertical_spacing=spacing)
    fig.update_annotations(xanchor="left", x=0, font={"size": 13})  # facet titles: left, above their plot
    fig.update_layout(title={"text": title, "x": 0, "xanchor": "left", "xref": "container", "y": 1, "yanchor": "top",
                             "yref": "container", "pad": {"t": 36, "l": 12}, "font": {"size": 16}},
                      height=total, template="plotly_white", font=FONT, showlegend=bool(legend),
                      margin={"l": 12, "r": 24, "t": TITLE_PX + legend_px + 12, "b": AXIS_PX},
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "xref": "container", "y": 1 - TITLE_PX
                              / total, "yanchor": "top", "yref": "container", "itemclick": "toggleothers"},
                      hoverlabel={"namelength": -1})
    return fig


def short_label(text: str, max_chars: int = LABEL_CHARS) -> str:
    """``text`` cut in the middle to ``max_chars`` characters ("mask2former-swin-lar…ary-vistas-semantic"): as
    few characters as must go, so that names differing only in a middle word ("tiny" / "large") stay apart.
    Short text as it is."""
    if len(text) <= max_chars:
        return text
    keep = max_chars - 1
    return text[:(keep + 1) // 2] + "…" + text[len(text) - keep // 2:]


def label_rows(fig: go.Figure, row: int, labels: Sequence[str]) -> None:
    """Rows at y = 0, 1, ... (top to bottom) with each label written left-aligned just above its row's
    marks, inside the plot, instead of beside the axis where it would take the axis' width; a label too long
    for a phone is shortened (:func:`short_label`), its full text on hover."""
    axis = fig.get_subplot(row, 1)
    fig.update_yaxes(row=row, col=1, range=[len(labels) - 0.5, -0.62], showticklabels=False, showgrid=False,
                     zeroline=False, fixedrange=True)
    xname, yname = axis.yaxis.anchor, axis.xaxis.anchor  # e.g. "x2", "y2"
    fig.layout.annotations += tuple(
        go.layout.Annotation(text=short_label(text), hovertext=text if len(text) > LABEL_CHARS else None,
                             x=0, y=i - ROW_MARK / 2, xref=f"{xname} domain", yref=yname, xanchor="left",
                             yanchor="bottom", showarrow=False, font={"size": 12}, align="left")
        for i, text in enumerate(labels))


def bar_facets(facets: dict[str, pd.DataFrame], title: str, series: Sequence[tuple[str, str, str]],
               axis_titles: dict[str, str]) -> go.Figure:
    """Horizontal bars, one facet per key of ``facets`` (its rows: a ``label`` column and one column per
    series), bars of the ``series`` ``(column, legend name, colour)`` side by side in each row."""
    fig = stacked([(name, ROW_PX * len(rows)) for name, rows in facets.items()], title,
                  legend=[name for _, name, _ in series] if len(series) > 1 else ())
    width = ROW_MARK / len(series)
    for r, (name, rows) in enumerate(facets.items(), start=1):
        top = 0.0
        for k, (column, legend_name, colour) in enumerate(series):
            values = pd.to_numeric(rows[column], errors="coerce")
            top = max(top, float(values.max()) if values.notna().any() else 0.0)
            fig.add_trace(go.Bar(
                x=values, y=list(range(len(rows))), orientation="h", width=width, offset=-ROW_MARK / 2 + k * width,
                name=legend_name, legendgroup=legend_name, showlegend=r == 1, marker_color=colour,
                text=[f"{v:.3g}" if pd.notna(v) else "" for v in values], textposition="outside",
                textfont={"size": 11}, constraintext="none", cliponaxis=False,
                customdata=rows[["label"]].assign(note=rows.get("note", "")).values,
                hovertemplate="%{customdata[0]}<br>%{x:.3g}<br>%{customdata[1]}<extra>" + legend_name + "</extra>"),
                row=r, col=1)
        label_rows(fig, r, rows["label"].tolist())
        fig.update_xaxes(row=r, col=1, range=[0, top * 1.15 or 1], title_text=axis_titles.get(name, ""),
                         title_standoff=4)
    fig.update_layout(barmode="overlay")
    return fig


def scatter_facets(facets: dict[str, pd.DataFrame], title: str, axis_titles: dict[str, str],
                   fronts: dict[str, pd.DataFrame]) -> go.Figure:
    """Accuracy (y) against latency in ms (x, log), one facet per metric; colour = model (the legend),
    a dashed line through each facet's Pareto front when it has two points or more."""
    models = list(dict.fromkeys(m for rows in facets.values() for m in rows["model"]))
    with_front = any(front is not None and len(front) >= 2 for front in fronts.values())
    fig = stacked([(name, SCATTER_PX) for name in facets], title, legend=models + ["Pareto front"] * with_front)
    for r, (name, rows) in enumerate(facets.items(), start=1):
        for model, group in rows.groupby("model", sort=False):
            fig.add_trace(go.Scatter(
                x=group["latency_ms"], y=group["value"], mode="markers", name=model, legendgroup=model,
                showlegend=model not in {t.name for t in fig.data},
                marker={"size": 11, "color": color(models.index(model))}, customdata=group[["dataset"]].values,
                hovertemplate=model + "<br>%{y:.3g} at %{x:.0f} ms<br>%{customdata[0]}<extra></extra>"), row=r, col=1)
        front = fronts.get(name)
        if front is not None and len(front) >= 2:
            fig.add_trace(go.Scatter(x=front["latency_ms"], y=front["value"], mode="lines",
                                     line={"dash": "dash", "color": "#888"}, name="Pareto front", legendgroup="front",
                                     showlegend="Pareto front" not in {t.name for t in fig.data}, hoverinfo="skip"),
                          row=r, col=1)
        fig.update_xaxes(row=r, col=1, **ms_axis(rows["latency_ms"]), title_text="latency per image, warm p50",
                         title_standoff=4)
        low, high = float(rows["value"].min()), float(rows["value"].max())
        pad = max((high - low) * 0.15, abs(high) * 0.1, 0.05)
        fig.update_yaxes(row=r, col=1, title_text=axis_titles.get(name, name), range=[low - pad, high + pad],
                         automargin=True)
    return fig


def latency_boxes(runs: dict[str, pd.DataFrame], title: str) -> go.Figure:
    """Per-image latency, one labelled row per run: the warm calls as a box with every image as a dot, the
    cold first call of each process as a cross."""
    legend = ["warm calls (box: quartiles; dots: images)", "cold first call"]
    fig = stacked([("", ROW_PX * len(runs))], title, legend=legend)
    values = []
    for i, (label, rows) in enumerate(runs.items()):
        warm, cold = rows[~rows["cold"]], rows[rows["cold"]]
        values += rows["latency_ms"].tolist()
        hover = "%{x:.0f} ms<br>%{customdata[0]}<extra>" + label + "</extra>"
        fig.add_trace(go.Box(x=warm["latency_ms"], y=[i] * len(warm), orientation="h", width=ROW_MARK,
                             boxpoints="all", jitter=0.6, pointpos=0, marker={"size": 5, "opacity": 0.7},
                             line={"width": 1.5}, fillcolor="rgba(31,119,180,0.25)", marker_color=REPRODUCED,
                             name=legend[0], legendgroup="warm", showlegend=i == 0, customdata=warm[["image"]].values,
                             hovertemplate=hover))
        fig.add_trace(go.Scatter(x=cold["latency_ms"], y=[i] * len(cold), mode="markers",
                                 marker={"symbol": "x", "size": 10, "color": "#d62728"},
                                 name=legend[1], legendgroup="cold",
                                 showlegend=legend[1] not in {t.name for t in fig.data},
                                 customdata=cold[["image"]].values, hovertemplate=hover))
    label_rows(fig, 1, list(runs))
    fig.update_xaxes(**ms_axis(values), title_text="latency (log scale)", title_standoff=4)
    return fig


def line_facet(lines: dict[str, tuple[list[float], list[float]]], title: str, x_title: str, y_title: str,
               x_ticks: Sequence[float]) -> go.Figure:
    """One facet of lines (name -> (x, y)), e.g. mIoU against the number of clicks."""
    fig = stacked([("", SCATTER_PX)], title, legend=list(lines))
    for i, (name, (x, y)) in enumerate(lines.items()):
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, line={"color": color(i)},
                                 hovertemplate=name + "<br>%{x}: %{y:.1f}<extra></extra>"))
    fig.update_xaxes(title_text=x_title, tickvals=list(x_ticks), title_standoff=4)
    fig.update_yaxes(title_text=y_title, automargin=True)
    return fig
