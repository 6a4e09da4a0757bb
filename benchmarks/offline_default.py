"""Does the offline default beat the offline baselines? Real COCO instances, ground-truth box and click prompts.

    python -m benchmarks.offline_default [--data DIR] [--limit N] [--min-side 32]

Instances: the non-crowd annotations of the slice's instances_val2017.json whose COCO bbox is
wider and taller than ``--min-side`` pixels. Box prompt: the tight box of the instance's mask.
Click prompt: one positive click at the mask's most interior point (the interactive protocol's
first click). Every offline promptable model of the registry (the embedded default and the
baselines: box-as-mask, plain GrabCut, U2-Net-p saliency in the box) answers the same boxes
through :func:`seglab.predict`; the embedded model also answers the clicks.

Per method: mean IoU, the Spearman correlation of its scores with its IoUs, milliseconds per
prompt warm (every prompt on an image after its first) and for the first prompt on an image
(its per-image cache emptied first). Exits with status 1 when the embedded model does not beat box-as-mask.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from tqdm import tqdm

import seglab
from seglab.formats import load_coco_gt
from seglab.interactive import mask_iou, next_click
from seglab.results import masks_to_boxes

MODEL = "embedded-u2netp-grabcut"
BASELINES = ("baseline-box-as-mask", "baseline-grabcut", "baseline-u2netp-saliency")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-val2017-mini"


def instances(data: Path, min_side: float, limit: int | None) -> list[tuple[Path, np.ndarray]]:
    """(image path, H x W bool mask) of each non-crowd instance whose bbox is wider and taller than ``min_side``."""
    coco = load_coco_gt(data / "annotations" / "instances_val2017.json")
    anns = [a for a in coco.loadAnns(coco.getAnnIds(iscrowd=False)) if min(a["bbox"][2:]) > min_side]
    return [(data / "val2017" / coco.loadImgs(a["image_id"])[0]["file_name"], coco.annToMask(a).astype(bool))
            for a in anns[:limit]]


def _forget(model: object) -> None:
    """Empty a model's per-image caches (its own, and its saliency network's for the saliency baseline)."""
    for holder in (model, getattr(model, "saliency_model", None)):
        if getattr(holder, "cache", None) is not None:
            holder.cache.clear()


def _prompts(gt: np.ndarray, kind: str) -> seglab.Prompt:
    if kind == "box":
        return seglab.Prompt.build(box=masks_to_boxes(gt[None])[0])
    click = next_click(gt)
    return seglab.Prompt.build(points=[(click.x + 0.5, click.y + 0.5)], labels=[1])


def compare(data: Path, min_side: float = 32, limit: int | None = None) -> pd.DataFrame:
    """One row per (method, prompt): mean IoU, instances, Spearman(score, IoU) (none for a constant score),
    ms per prompt warm (median) and for an image's first prompt (median)."""
    runs = [(MODEL, "box"), (MODEL, "click")] + [(b, "box") for b in BASELINES]
    by_image: dict[Path, list[np.ndarray]] = {}
    for path, gt in instances(data, min_side, limit):
        by_image.setdefault(path, []).append(gt)
    rows = []
    for model_id, kind in runs:
        model = seglab.load_model(model_id)
        ious, scores, warm, first = [], [], [], []
        for path, gts in tqdm(by_image.items(), desc=f"{model_id} {kind}", disable=not sys.stderr.isatty()):
            image = seglab.load_image(path)
            _forget(model)
            for i, gt in enumerate(gts):
                start = time.perf_counter()
                result = seglab.predict(model, image, _prompts(gt, kind))
                (warm if i else first).append(time.perf_counter() - start)
                ious.append(mask_iou(result.masks[0], gt))
                scores.append(float(result.scores[0]))
        rows.append({"method": model_id, "prompt": kind, "mean IoU": np.mean(ious), "instances": len(ious),
                     "score~IoU Spearman": spearmanr(scores, ious).statistic if np.ptp(scores) > 0 else None,
                     "ms per prompt warm": 1000 * np.median(warm) if warm else None,
                     "ms first prompt": 1000 * np.median(first)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="COCO slice with val2017/ and annotations/")
    parser.add_argument("--limit", type=int, default=None, help="first N selected instances only")
    parser.add_argument("--min-side", type=float, default=32, help="keep instances whose bbox exceeds this (px)")
    args = parser.parse_args(argv)
    if not (args.data / "annotations" / "instances_val2017.json").is_file():
        print(f"no annotations/instances_val2017.json under {args.data}", file=sys.stderr)
        return 2
    table = compare(args.data, args.min_side, args.limit)
    print(f"non-crowd COCO instances with bbox width and height > {args.min_side:g} px, prompted with the "
          f"tight box of their mask or a click at its most interior point ({args.data}); times are medians")
    print(table.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.3f}" if v < 1 else f"{v:.1f}"))
    iou = table.set_index(["method", "prompt"])["mean IoU"]
    baseline, embedded = iou[BASELINES[0], "box"], iou[MODEL, "box"]
    if embedded <= baseline:
        print(f"FAIL: {MODEL} ({embedded:.3f}) does not beat box-as-mask ({baseline:.3f})", file=sys.stderr)
        return 1
    print(f"{MODEL} beats box-as-mask by {embedded - baseline:+.3f} mean IoU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
