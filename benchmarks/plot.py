"""A self-contained HTML report of a results folder: figures (plotly, inlined so it opens offline) and the table.

    python -m benchmarks.plot RESULTS_DIR --out report.html [--png-dir DIR]

``--png-dir`` also writes each figure as a PNG when kaleido is installed (skipped with a message otherwise).
"""
from __future__ import annotations

import argparse
import html
import importlib.util
import sys
from pathlib import Path

import pandas as pd

from seglab import SeglabError
from seglab.report import RANDOM, figures, load_latencies, load_results, summary_table

STYLE = ("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
         "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}</style></head><body>")


def render_html(results: pd.DataFrame, latencies: pd.DataFrame, source: str) -> str:
    """The report page: figures first (plotly.js inlined once), then the results table and how numbers were taken."""
    figs = figures(results, latencies)
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_height="480px")
             for i, fig in enumerate(figs.values())]
    methods = sorted(set(results.get("timing_method", pd.Series(dtype=str)).dropna()))
    notes = sorted({f"{r.task} on {r.dataset}: {r.note}" for r in results.itertuples() if isinstance(r.note, str)}) \
        if "note" in results.columns else []
    random_rows = int((results["weights"] == RANDOM).sum())
    return "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'><title>seglab benchmark report</title>",
        STYLE,
        f"<h1>seglab benchmark report</h1><p>From <code>{html.escape(source)}</code>: {len(results)} result rows.",
        f" {random_rows} row(s) use random weights (latency only; their accuracy is not plotted).</p>"
        if random_rows else "</p>",
        *parts,
        "<h2>Results</h2>", summary_table(results).to_html(index=False, na_rep="", border=0),
        "<h2>How the numbers were taken</h2><ul>",
        *[f"<li>{html.escape(m)}</li>" for m in methods + notes],
        "</ul></body></html>",
    ])


def write_pngs(results: pd.DataFrame, latencies: pd.DataFrame, folder: Path) -> list[Path]:
    """Each figure as a PNG (needs kaleido)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, fig in figures(results, latencies).items():
        fig.write_image(folder / f"{name}.png", width=1000, height=520)
        out.append(folder / f"{name}.png")
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
