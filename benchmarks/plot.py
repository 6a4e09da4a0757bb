"""A self-contained HTML report of a results folder: the charts (plotly, inlined so it opens offline), the
results table, and the model zoo with its published numbers; the same figures as the app's Benchmark tab.

    python -m benchmarks.plot RESULTS_DIR --out report.html [--png-dir DIR]

``--png-dir`` also writes each figure as a PNG when kaleido is installed (skipped with a message otherwise).
"""
from __future__ import annotations

import argparse
import html
import importlib.util
import re
import sys
from pathlib import Path

import pandas as pd

from seglab import SeglabError
from seglab.report import (RANDOM, Chart, full_table, load_latencies, load_results, model_zoo, report_charts,
                           summary_table, zoo_chart)

STYLE = ("<style>body{font-family:system-ui,sans-serif;margin:1em auto;max-width:1200px;padding:0 1em}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
         "text-align:left;vertical-align:top}th{white-space:nowrap}.scroll{overflow-x:auto}"
         "pre{background:#f4f4f4;padding:.6em;overflow-x:auto}.note{color:#444}</style></head><body>")


def _text(markdown: str) -> str:
    """A note's text as HTML: escaped, with `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(markdown))


def chart_html(chart: Chart, with_plotlyjs: bool) -> str:
    """A chart's figure under its note, or its title, the reason it is not drawn and the commands to fill it."""
    commands = f"<pre>{html.escape(chr(10).join(chart.commands))}</pre>" if chart.commands else ""
    if chart.figure is None:
        return f"<h3>{html.escape(chart.title)}</h3><p class='note'>{_text(chart.note)}</p>{commands}"
    figure = chart.figure.to_html(full_html=False, include_plotlyjs=with_plotlyjs, default_width="100%",
                                  config={"responsive": True})
    return f"<p class='note'>{_text(chart.note)}</p>{commands}{figure}"


def render_html(results: pd.DataFrame, latencies: pd.DataFrame, source: str) -> str:
    """The report page: the results' charts (plotly.js inlined once), the results table (compact, then every
    column), the model zoo, and how the numbers were taken."""
    charts = [*report_charts(results, latencies), zoo_chart()]
    drawn = [c for c in charts if c.figure is not None]
    parts = [chart_html(c, with_plotlyjs=bool(drawn) and c is drawn[0]) for c in charts]
    methods = sorted(set(results.get("timing_method", pd.Series(dtype=str)).dropna()))
    notes = sorted({f"{r.task} on {r.dataset}: {r.note}" for r in results.itertuples() if isinstance(r.note, str)}) \
        if "note" in results.columns else []
    random_rows = int((results["weights"] == RANDOM).sum())
    return "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>",
        "<title>seglab benchmark report</title>", STYLE,
        f"<h1>seglab benchmark report</h1><p>From <code>{html.escape(source)}</code>: {len(results)} result rows.",
        f" {random_rows} row(s) use random weights (latency only; their accuracy is not plotted).</p>"
        if random_rows else "</p>",
        "<h2>Results</h2><div class='scroll'>", summary_table(results).to_html(index=False, na_rep="", border=0),
        "</div><details><summary>Every column</summary><div class='scroll'>",
        full_table(results).to_html(index=False, na_rep="", border=0), "</div></details>",
        *parts[:-1],
        "<h2>Model zoo</h2><p>Every registry model with the numbers its authors published.</p>", parts[-1],
        "<div class='scroll'>", model_zoo().to_html(index=False, na_rep="", border=0), "</div>",
        "<h2>How the numbers were taken</h2><ul>",
        *[f"<li>{html.escape(m)}</li>" for m in methods + notes],
        "</ul></body></html>",
    ])


def write_pngs(results: pd.DataFrame, latencies: pd.DataFrame, folder: Path) -> list[Path]:
    """Each drawn figure as a PNG at its own height (needs kaleido)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for chart in [*report_charts(results, latencies), zoo_chart()]:
        if chart.figure is not None:
            chart.figure.write_image(folder / f"{chart.name}.png", width=1000)
            out.append(folder / f"{chart.name}.png")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.plot", description=__doc__.split("\n")[0])
    p.add_argument("results", type=Path, help="results folder (results.csv, latency.csv) or a results file")
    p.add_argument("--out", type=Path, default=Path("report.html"))
    p.add_argument("--png-dir", type=Path, help="also write the figures as PNGs here (needs kaleido)")
    args = p.parse_args(argv)
    try:
        results = load_results(args.results)
        latencies = load_latencies(args.results if args.results.is_dir() else args.results.parent)
    except SeglabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_html(results, latencies, str(args.results)), encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    if args.png_dir:
        if importlib.util.find_spec("kaleido") is None:
            print("PNG export skipped: kaleido is not installed (pip install kaleido)")
        else:
            for path in write_pngs(results, latencies, args.png_dir):
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
