"""Promptable models scored on COCO instances: the SAM paper's class-agnostic prompts, or a detector's boxes.

Each non-crowd ground-truth instance prompts the model once, with its box (default) or with
its centre point (the interior point farthest from the boundary, ``--prompt center-point``);
the mask returned for that prompt is a COCO result. Metrics: class-agnostic AR@100 (COCOeval
over the prompted masks) and mIoU (mean IoU of each instance's mask with its ground truth;
an instance whose image failed is left out, one the model returned nothing for counts 0).
``--everything``: segment-everything proposals per image instead, class-agnostic AR@100.

``--prompt-boxes DETECTIONS.json``: zero-shot instance segmentation as in the SAM paper (Kirillov et al.,
§7.4 and appendix D.4): every box of a detector's COCO results file prompts the model, the mask gets the
detection's category and score, and one refinement pass feeds the best mask's logits back with the box
(models that return no logits answer once). Metrics: class-aware COCO mask AP, AP50, AP75, APs/m/l and AR@100
over every image of the data set (an image without detections still counts: its objects are missed).
"""
from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

import seglab
from seglab.formats import FormatError, read_json
from seglab.metrics import InstanceEvaluator

from . import BenchmarkInputError, Dataset, Prediction, RunConfig, Sample, TaskContext
from .coco import NAME, image_path, instances

REGISTRY_TASK = "promptable"
DATASETS = ("coco",)
DEFAULT_PROTOCOL = "coco-gt-boxes"  # a plain run's: its predictions keep the task's own folder
# --prompt-boxes defaults. The SAM paper prompts with every box ViTDet-H outputs (§7.4: "prompt SAM with its
# output boxes"), so nothing is dropped here; the detector has already applied its own test thresholds
# (detectron2 projects/ViTDet configs: test_score_thresh 0.05, FastRCNNOutputLayers test_topk_per_image 100).
MIN_SCORE = 0.0
MAX_DETECTIONS = 100  # per image, best first: COCOeval's largest maxDets and ViTDet's own top-k
REFINE = True  # appendix D.4: "an additional mask refinement iteration"
SOURCES = {"vitdet-h": "coco-vitdet-h-boxes"}  # --prompt-boxes-from: the detectors a published protocol names
DETECTION_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR@100")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt-boxes", type=Path, metavar="DETECTIONS.json",
                        help="promptable: prompt with a detector's COCO results file (image_id, category_id, "
                             "bbox [x, y, w, h], score); each mask keeps its detection's category and score, "
                             "scored as class-aware mask AP (the SAM paper's zero-shot instance segmentation)")
    parser.add_argument("--prompt-boxes-from", choices=sorted(SOURCES),
                        help="states which detector wrote --prompt-boxes (recorded as its protocol, e.g. "
                             "coco-vitdet-h-boxes, the one SAM's published AP was measured under); not checked")
    parser.add_argument("--min-score", type=float, default=MIN_SCORE,
                        help=f"--prompt-boxes: drop detections scoring less (default {MIN_SCORE:g}: keep all, as "
                             "the SAM paper does)")
    parser.add_argument("--max-detections", type=int, default=MAX_DETECTIONS,
                        help=f"--prompt-boxes: keep the best N detections per image (default {MAX_DETECTIONS}, "
                             "COCOeval's maxDets and ViTDet's own limit)")
    parser.add_argument("--refine", action=argparse.BooleanOptionalAction, default=REFINE,
                        help="--prompt-boxes: one more decoder pass with the box and the best mask's logits "
                             "(SAM paper, appendix D.4; models without logits answer once)")


def protocol(config: RunConfig) -> str:
    """The id (``seglab.protocols``) of the protocol this run follows."""
    options = config.options
    if options.get("prompt_boxes"):
        return SOURCES.get(options.get("prompt_boxes_from") or "", "coco-detection-boxes")
    if options.get("everything"):
        return "coco-everything"
    return "coco-gt-center-points" if options.get("prompt") == "center-point" else DEFAULT_PROTOCOL


def prediction_folder(config: RunConfig) -> str:
    """``promptable`` for ground-truth boxes, ``promptable-<protocol>`` for the other prompts; a --prompt-boxes run
    also names its file's sha256, so that --resume never mixes the masks of two detection files."""
    name = protocol(config)
    if name == DEFAULT_PROTOCOL:
        return "promptable"
    boxes = config.options.get("prompt_boxes")
    return f"promptable-{name}" + (f"-{_sha256(Path(boxes))}" if boxes else "")


def load(config: RunConfig) -> Dataset:
    gt = instances(config)
    if config.options.get("prompt_boxes"):
        return _detection_dataset(config, gt)
    if config.options.get("prompt_boxes_from"):
        raise BenchmarkInputError("--prompt-boxes-from names the detector of a --prompt-boxes file; give the file")
    everything = config.options.get("everything")
    samples = []
    for img in gt.dataset["images"]:
        anns = [a for a in gt.imgToAnns.get(img["id"], []) if not a.get("iscrowd")]
        if anns or everything:
            samples.append(Sample(str(img["id"]), image_path(config, img["file_name"]), img["id"],
                                  [a["id"] for a in anns]))
    how = "segment-everything proposals" if everything else f"one {config.options.get('prompt', 'box')} prompt " \
        "per non-crowd ground-truth instance"
    return Dataset(NAME, tuple(samples), gt, note=f"class-agnostic, {how}; an image's latency covers all its prompts")


# ----------------------------------------------------------------------------- a detector's boxes as prompts

def _detection_dataset(config: RunConfig, gt: COCO) -> Dataset:
    """Every image of the ground truth, each with its detections (best first, filtered) as ``target``."""
    options = config.options
    path = Path(options["prompt_boxes"])
    if options.get("everything") or options.get("prompt") == "center-point":
        raise BenchmarkInputError("--prompt-boxes prompts with boxes; leave out --everything and --prompt center-point")
    if config.batch_size > 1:
        raise BenchmarkInputError("--prompt-boxes prompts one box at a time (its refinement pass takes one mask); "
                                  "leave out --batch-size")
    if options.get("max_detections", MAX_DETECTIONS) < 1:
        raise BenchmarkInputError("--max-detections must be at least 1")
    source = options.get("prompt_boxes_from")
    paper = (options.get("min_score", MIN_SCORE), options.get("max_detections", MAX_DETECTIONS),
             options.get("refine", REFINE)) == (MIN_SCORE, MAX_DETECTIONS, REFINE)
    if source and not paper:
        raise BenchmarkInputError(f"--prompt-boxes-from {source} records the SAM paper's protocol; leave "
                                  "--min-score, --max-detections and --refine at their defaults")
    by_image: dict[int, list[dict]] = {}
    for det in read_detections(path, gt):
        if det["score"] >= options.get("min_score", MIN_SCORE):
            by_image.setdefault(det["image_id"], []).append(det)
    top = options.get("max_detections", MAX_DETECTIONS)
    samples = tuple(Sample(str(img["id"]), image_path(config, img["file_name"]), img["id"],
                           sorted(by_image.get(img["id"], []), key=lambda d: -d["score"])[:top])
                    for img in gt.dataset["images"])
    stated = f", stated to be {source}'s" if source else ""
    refine = "one refinement pass with the best mask's logits where the model returns them" \
        if options.get("refine", REFINE) else "no refinement pass"
    note = (f"class-aware COCO mask AP over masks prompted by the boxes of {path.name} (sha256 {_sha256(path)}"
            f"{stated}), each with its detection's category and score; detections scoring >= "
            f"{options.get('min_score', MIN_SCORE):g}, best {top} per image; {refine}; an image's latency covers "
            "all its prompts")
    return Dataset(NAME, samples, gt, note=note)


def read_detections(path: Path, gt: COCO) -> list[dict[str, Any]]:
    """A detector's COCO results file, checked against ``gt``: a list of {image_id, category_id, bbox [x, y, w, h]
    with w, h >= 0, score}, every image and category known. Raises :class:`BenchmarkInputError`."""
    try:
        entries = read_json(path, "--prompt-boxes file")
    except FormatError as err:
        raise BenchmarkInputError(str(err)) from None
    if not isinstance(entries, list) or not entries:
        raise BenchmarkInputError(f"--prompt-boxes file {path} must hold a non-empty list of COCO detection results "
                                  "(image_id, category_id, bbox [x, y, w, h], score)")
    out = []
    for i, e in enumerate(entries):
        where = f"--prompt-boxes file {path}: detection {i}"
        if not isinstance(e, dict) or not {"image_id", "category_id", "bbox", "score"} <= e.keys():
            raise BenchmarkInputError(f"{where} needs image_id, category_id, bbox and score")
        box, score = e["bbox"], e["score"]
        if not (isinstance(box, list) and len(box) == 4 and all(_finite(v) for v in box) and min(box[2:]) >= 0):
            raise BenchmarkInputError(f"{where} has bbox {box!r}; a bbox is [x, y, width, height] with width, "
                                      "height >= 0")
        if not _finite(score):
            raise BenchmarkInputError(f"{where} has score {score!r}; a score is a finite number")
        if e["image_id"] not in gt.imgs:
            raise BenchmarkInputError(f"{where} has image id {e['image_id']!r}, which is not in the ground truth")
        if e["category_id"] not in gt.cats:
            raise BenchmarkInputError(f"{where} has category id {e['category_id']!r}, which is not a category of "
                                      "the ground truth")
        out.append({"image_id": e["image_id"], "category_id": e["category_id"], "bbox": [float(v) for v in box],
                    "score": float(score), "index": i})
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _detection_entries(model: Any, image: np.ndarray, sample: Sample, config: RunConfig) -> list[dict[str, Any]]:
    """One mask per detection of the image, with the detection's category and score (``detection``: its index in
    the file). The box asks for SAM's three masks (``multimask_output``, SamPredictor's default, read from
    appendix D.4's "the most confident predicted mask"); the best by predicted IoU, or its refinement, is kept."""
    h, w = image.shape[:2]
    out = []
    for det in sample.target:
        prompt = seglab.Prompt.build(box=_box(det, h, w))
        masks = seglab.predict(model, image, prompt, multimask_output=True)
        if not len(masks):
            continue  # nothing to score: the detection is missed
        best = int(np.argmax(masks.scores))
        if config.options.get("refine", REFINE) and masks.logits is not None:
            masks = seglab.predict(model, image, prompt, mask_input=masks.logits[best])
            best = int(np.argmax(masks.scores))
        entry = masks.select([best]).to_coco(sample.image_id, category_id=det["category_id"])[0]
        out.append({**entry, "score": det["score"], "detection": det["index"]})
    return out


# ----------------------------------------------------------------------------- ground-truth prompts

def _box(ann: dict, height: int, width: int) -> list[float]:
    x, y, w, h = ann["bbox"]
    x0, y0 = min(x, width - 1), min(y, height - 1)
    return [x0, y0, max(x + w, x0 + 1), max(y + h, y0 + 1)]  # at least one pixel, as a prompt needs


def center_point(mask: np.ndarray) -> tuple[float, float]:
    """The pixel of ``mask`` farthest from its boundary (x, y)."""
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x) + 0.5, float(y) + 0.5


def _entry(masks: seglab.Masks, i: int, image_id: Any, ann_id: int | None) -> dict[str, Any]:
    entry = masks.select([i]).to_coco(image_id, category_id=1)[0]
    return entry if ann_id is None else {**entry, "ann_id": ann_id}


def run(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> Prediction:
    """COCO result entries: one per prompted instance (class 1; ``ann_id`` links it to its ground truth), or one
    per detection with ``--prompt-boxes`` (the detection's category and score)."""
    if context.config.options.get("prompt_boxes"):
        entries = _detection_entries(model, image, sample, context.config)
    else:
        entries = _entries(model, image, sample, context)
    return Prediction(entries, entries)


def _entries(model: Any, image: np.ndarray, sample: Sample, context: TaskContext) -> list[dict[str, Any]]:
    config, gt = context.config, context.dataset.gt
    if config.options.get("everything"):
        from seglab.everything import segment_everything

        masks = segment_everything(model, image).masks
        return [_entry(masks, i, sample.image_id, None) for i in np.argsort(-masks.scores)[:100]]
    anns = gt.loadAnns(sample.target)
    h, w = image.shape[:2]
    out = []
    if config.options.get("prompt") == "center-point":
        for ann in anns:
            point = center_point(gt.annToMask(ann))
            masks = seglab.predict(model, image, seglab.Prompt.build(points=[point], labels=[1]))
            out.append(_entry(masks.sorted(), 0, sample.image_id, ann["id"]))  # best of a multi-mask answer
        return out
    for start in range(0, len(anns), config.batch_size):
        chunk = anns[start:start + config.batch_size]
        masks = seglab.predict(model, image, seglab.Prompt.build(boxes=[_box(a, h, w) for a in chunk]))
        if len(masks) != len(chunk):
            raise RuntimeError(f"{len(chunk)} box prompts gave {len(masks)} masks; expected one per box")
        out += [_entry(masks, i, sample.image_id, a["id"]) for i, a in enumerate(chunk)]
    return out


class PromptableEvaluator:
    """Class-agnostic COCO AR@100 (and AP) over the prompted masks and, unless ``--everything``, the mean IoU of
    each prompted instance with its ground truth (pycocotools' mask IoU; an instance without a mask counts 0)."""

    def __init__(self, dataset: Dataset, config: RunConfig) -> None:
        self.gt, self.everything = dataset.gt, bool(config.options.get("everything"))
        self.coco = InstanceEvaluator(self.gt, class_agnostic=True)
        self.reset()

    def reset(self) -> None:
        self.coco.reset()
        self.ious: list[float] = []

    def process(self, sample: Sample, entries: list[dict[str, Any]]) -> None:
        self.coco.process(sample.image_id, entries)
        if self.everything:
            return
        by_ann = {e["ann_id"]: e["segmentation"] for e in entries if "ann_id" in e}
        for ann in self.gt.loadAnns(sample.target):
            seg = by_ann.get(ann["id"])
            dt = None if seg is None else {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
            self.ious.append(0.0 if dt is None else float(mask_utils.iou([dt], [self.gt.annToRLE(ann)], [0])[0, 0]))

    def evaluate(self) -> dict[str, float]:
        metrics = self.coco.evaluate()
        out = {k: metrics[k] for k in ("AR@100", "ARs", "ARm", "ARl")}
        if not self.everything:
            out["AP"] = metrics["AP"]
            out["mIoU"] = float(np.mean(self.ious) * 100) if self.ious else float("nan")
        return out


class DetectionPromptEvaluator:
    """Class-aware COCO mask AP (all, 50, 75, by size) and AR@100 over the masks of a detector's boxes."""

    def __init__(self, dataset: Dataset) -> None:
        self.coco = InstanceEvaluator(dataset.gt)

    def reset(self) -> None:
        self.coco.reset()

    def process(self, sample: Sample, entries: list[dict[str, Any]]) -> None:
        self.coco.process(sample.image_id, entries)

    def evaluate(self) -> dict[str, float]:
        metrics = self.coco.evaluate()
        return {k: metrics[k] for k in DETECTION_KEYS}


def evaluator(dataset: Dataset, config: RunConfig) -> PromptableEvaluator | DetectionPromptEvaluator:
    if config.options.get("prompt_boxes"):
        return DetectionPromptEvaluator(dataset)
    return PromptableEvaluator(dataset, config)
