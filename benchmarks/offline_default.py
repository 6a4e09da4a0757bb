"""Does the offline default beat box-as-mask? Mean IoU on real COCO instances with the ground-truth box as prompt.

    python -m benchmarks.offline_default [--data DIR] [--limit N] [--min-side 32]

Instances: the non-crowd annotations of the slice's instances_val2017.json whose COCO bbox is
wider and taller than ``--min-side`` pixels. Prompt: the tight box of the instance's mask
(as :func:`seglab.interactive.box_ious` uses). Compared per box:

- box-as-mask: the prompt box filled;
- U2-Net-p alone: the saliency of the crop the model looks at (box plus context), > 0.5 inside the box;
- the embedded model through :func:`seglab.predict`.

Prints mean IoU, instance count and mean milliseconds per box, the Spearman correlation of the
model's scores with its IoUs, and exits with status 1 when the embedded model does not beat box-as-mask.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from tqdm import tqdm

import seglab
from seglab.formats import load_coco_gt
from seglab.interactive import mask_iou
from seglab.models.embedded import EmbeddedSegmenter, context_crop
from seglab.results import Masks, masks_to_boxes

MODEL = "embedded-u2netp-grabcut"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-val2017-mini"


def instances(data: Path, min_side: float, limit: int | None) -> list[tuple[Path, np.ndarray]]:
    """(image path, H x W bool mask) of each non-crowd instance whose bbox is wider and taller than ``min_side``."""
    coco = load_coco_gt(data / "annotations" / "instances_val2017.json")
    anns = [a for a in coco.loadAnns(coco.getAnnIds(iscrowd=False)) if min(a["bbox"][2:]) > min_side]
    return [(data / "val2017" / coco.loadImgs(a["image_id"])[0]["file_name"], coco.annToMask(a).astype(bool))
            for a in anns[:limit]]


def box_as_mask(image: np.ndarray, box: np.ndarray) -> Masks:
    """The box filled, score 1."""
    x0, y0, x1, y1 = box.astype(int)
    mask = np.zeros(image.shape[:2], bool)
    mask[y0:y1, x0:x1] = True
    return Masks(mask[None], [1.0])


def saliency_in_box(model: EmbeddedSegmenter, image: np.ndarray, box: np.ndarray) -> Masks:
    """U2-Net-p saliency of the model's crop around the box > 0.5 inside the box; score: its mean saliency."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = crop = context_crop(box, w, h)
    saliency = np.zeros((h, w), np.float32)
    saliency[y0:y1, x0:x1] = model.saliency(image, crop)
    mask = box_as_mask(image, box).masks[0] & (saliency > 0.5)
    return Masks(mask[None], [saliency[mask].mean() if mask.any() else 0.0])


def compare(data: Path, min_side: float = 32, limit: int | None = None) -> pd.DataFrame:
    """One row per method: mean IoU over the selected instances, their count, mean ms per box, and the
    Spearman correlation of its scores with its IoUs (none for box-as-mask, whose score is constant)."""
    model = seglab.load_model(MODEL)
    methods: dict[str, Callable[[np.ndarray, np.ndarray], Masks]] = {
        "box-as-mask": box_as_mask,
        "U2-Net-p saliency > 0.5 in box": lambda image, box: saliency_in_box(model, image, box),
        f"{MODEL} (seglab.predict)":
            lambda image, box: seglab.predict(model, image, seglab.Prompt.build(box=box)),
    }
    ious: dict[str, list[float]] = {name: [] for name in methods}
    scores: dict[str, list[float]] = {name: [] for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    images: dict[Path, np.ndarray] = {}
    selected = instances(data, min_side, limit)
    for path, gt in tqdm(selected, desc="instances", unit="box", disable=not sys.stderr.isatty()):
        image = images.setdefault(path, seglab.load_image(path))
        box = masks_to_boxes(gt[None])[0]
        for name, method in methods.items():
            model.cache.clear()  # each method pays for its own saliency run
            start = time.perf_counter()
            result = method(image, box)
            seconds[name] += time.perf_counter() - start
            ious[name].append(mask_iou(result.masks[0], gt))
            scores[name].append(float(result.scores[0]))
    return pd.DataFrame({
        "method": list(methods), "mean IoU": [np.mean(ious[n]) for n in methods],
        "instances": [len(ious[n]) for n in methods],
        "ms per box": [1000 * seconds[n] / max(len(selected), 1) for n in methods],
        "score~IoU Spearman": [spearmanr(scores[n], ious[n]).statistic if np.ptp(scores[n]) > 0 else None
                               for n in methods]})


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
    print(f"non-crowd COCO instances with bbox width and height > {args.min_side:g} px, "
          f"prompted with the tight box of their mask ({args.data})")
    print(table.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.3f}" if v < 1 else f"{v:.1f}"))
    baseline, embedded = table["mean IoU"].iloc[0], table["mean IoU"].iloc[-1]
    if embedded <= baseline:
        print(f"FAIL: {MODEL} ({embedded:.3f}) does not beat box-as-mask ({baseline:.3f})", file=sys.stderr)
        return 1
    print(f"{MODEL} beats box-as-mask by {embedded - baseline:+.3f} mean IoU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
