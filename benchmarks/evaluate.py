"""Score prediction files against ground truth in the COCO / label-PNG / depth-PNG formats.

    python -m benchmarks.evaluate instances --gt GT.json --pred PRED.json [--class-agnostic] --json OUT.json
    python -m benchmarks.evaluate panoptic --gt GT.json --pred PRED.json [--gt-folder D] [--pred-folder D]
        [--workers N] --json OUT
    python -m benchmarks.evaluate semantic --gt-folder D --pred-folder D [--num-classes N] --json OUT.json
    python -m benchmarks.evaluate depth --gt-folder D --pred-folder D [--scale 1000] [--median-scaling] --json OUT

Prints a table and writes every number, named, to ``--json`` (NaN as null). Bad or inconsistent
files give a one-line error on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from seglab.errors import SeglabError
from seglab.formats import pair_folders, read_depth_png, read_label_png
from seglab.metrics import (DepthEvaluator, SemanticEvaluator, coco_instance_metrics, pq_compute_files)


Rows = dict[str, dict[str, Any]]  # a printed table: row name -> column -> value


def instances(args: argparse.Namespace) -> tuple[dict[str, Any], Rows]:
    r = coco_instance_metrics(args.gt, args.pred, class_agnostic=args.class_agnostic, iou_type=args.iou_type)
    return r, {"class-agnostic" if args.class_agnostic else args.iou_type: r}


def panoptic(args: argparse.Namespace) -> tuple[dict[str, Any], Rows]:
    r = pq_compute_files(args.gt, args.pred, args.gt_folder, args.pred_folder, workers=args.workers)
    rows = {name: {m: r[m + key] for m in ("PQ", "SQ", "RQ", "n")}
            for name, key in (("All", ""), ("Things", "_th"), ("Stuff", "_st"))}
    return r, rows


def semantic(args: argparse.Namespace) -> tuple[dict[str, Any], Rows]:
    pairs = [(read_label_png(g), read_label_png(p)) for _, g, p in pair_folders(args.gt_folder, args.pred_folder)]
    n = args.num_classes
    if n is None:  # the largest class id seen (ignore label excluded), plus one
        n = 1 + max(int(a[a != args.ignore_index].max(initial=0)) for pair in pairs for a in pair)
    ev = SemanticEvaluator(n, ignore_index=args.ignore_index)
    for g, p in pairs:
        ev.process(g, p)
    r = ev.evaluate()
    return r, {"semantic": {k: r[k] for k in ("mIoU", "pixel_acc", "mean_acc", "n_classes", "images")}}


def depth(args: argparse.Namespace) -> tuple[dict[str, Any], Rows]:
    align = "median" if args.median_scaling else args.align
    ev = DepthEvaluator(args.min_depth, args.max_depth, align)
    for stem, g, p in pair_folders(args.gt_folder, args.pred_folder, args.pattern):
        ev.process(read_depth_png(g, args.scale), read_depth_png(p, args.pred_scale or args.scale), image=stem)
    r = {**ev.evaluate(), "align": align, "per_image": ev.per_image}
    return r, {"depth": {k: v for k, v in r.items() if k not in ("per_image", "align")}}


def format_table(rows: Rows) -> str:
    """Rows as aligned text columns, floats with three decimals (pandas would cost 0.2 s of start-up)."""
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    cells = [["", *columns]] + [[name, *(_cell(row.get(c)) for c in columns)] for name, row in rows.items()]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns) + 1)]
    return "\n".join("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths)))
                     .rstrip() for line in cells)


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def _plain(x: Any) -> Any:
    """JSON-ready: NaN -> None, numpy scalars -> Python, dict keys -> str."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    return None if isinstance(x, float) and math.isnan(x) else x


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.evaluate", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="task", required=True)
    p = sub.add_parser("instances", help="COCO mask AP / AR (pycocotools COCOeval)")
    p.add_argument("--gt", required=True, help="instances_*.json")
    p.add_argument("--pred", required=True, help="COCO results JSON (RLE segmentation, score, category_id)")
    p.add_argument("--class-agnostic", action="store_true", help="one category for all (SAM's AR@100)")
    p.add_argument("--iou-type", default="segm", choices=("segm", "bbox"))
    p.set_defaults(run=instances)
    p = sub.add_parser("panoptic", help="PQ / SQ / RQ (panopticapi rules)")
    p.add_argument("--gt", required=True, help="panoptic_*.json (PNG folder: same stem beside it)")
    p.add_argument("--pred", required=True, help="prediction panoptic JSON (PNG folder: same stem beside it)")
    p.add_argument("--gt-folder")
    p.add_argument("--pred-folder")
    p.add_argument("--workers", type=int, help="processes (or threads) reading the PNGs; default: one per CPU")
    p.set_defaults(run=panoptic)
    p = sub.add_parser("semantic", help="mIoU / pixel accuracy from label PNG folders")
    p.add_argument("--gt-folder", required=True)
    p.add_argument("--pred-folder", required=True, help="label PNGs named as the ground truth's")
    p.add_argument("--num-classes", type=int, help="default: largest class id seen + 1")
    p.add_argument("--ignore-index", type=int, default=255)
    p.set_defaults(run=semantic)
    p = sub.add_parser("depth", help="delta1, AbsRel, RMSE ... from 16-bit depth PNG folders")
    p.add_argument("--gt-folder", required=True)
    p.add_argument("--pred-folder", required=True, help="16-bit PNGs named as the ground truth's")
    p.add_argument("--pattern", default="*.png", help="ground-truth files to score, e.g. 'depth_*.png'")
    p.add_argument("--scale", type=float, default=1000.0, help="PNG units per metre (1000: millimetres)")
    p.add_argument("--pred-scale", type=float, help="for the predictions, if not --scale")
    p.add_argument("--median-scaling", action="store_true", help="same as --align median")
    p.add_argument("--align", choices=("median", "scale_shift"))
    p.add_argument("--min-depth", type=float, default=1e-3)
    p.add_argument("--max-depth", type=float)
    p.set_defaults(run=depth)
    for p in sub.choices.values():
        p.add_argument("--json", type=Path, help="write every number here")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result, table = args.run(args)
    except SeglabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(table))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_plain({"task": args.task, **result}), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
