"""COCO instance-mask metrics through pycocotools' COCOeval (its matching is never reimplemented).

Numbers are in percent (AP 100 is perfect); COCOeval's -1 ("no ground truth in this area range")
becomes NaN. Class-agnostic mode (the SAM paper's zero-shot proposal recall, AR@100) relabels every
ground-truth annotation and every prediction to one category, "object", and evaluates as usual:
the common practice for class-agnostic masks (CutLER, UnSAM, EntitySeg). pycocotools'
``params.useCats = 0`` gives the same numbers up to the order ties are broken in, but silently
drops predictions whose category id is not a ground-truth category, which proposals often lack.
"""
from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from ..formats import FormatError, PathLike, load_coco_gt, load_coco_results

if TYPE_CHECKING:
    from pycocotools.coco import COCO

COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR@1", "AR@10", "AR@100", "ARs", "ARm", "ARl")
"""Names of COCOeval's ``stats`` entries, in its order."""


def _agnostic(gt: COCO, predictions: list[dict]) -> tuple[COCO, list[dict]]:
    data = dict(gt.dataset)
    data["annotations"] = [{**a, "category_id": 1} for a in gt.dataset["annotations"]]
    data["categories"] = [{"id": 1, "name": "object", "supercategory": "object"}]
    return load_coco_gt(data), [{**p, "category_id": 1} for p in predictions]


def _load_results(gt: COCO, predictions: list[dict]) -> COCO:
    if predictions:
        with contextlib.redirect_stdout(io.StringIO()):
            return gt.loadRes(predictions)
    empty = {"images": gt.dataset["images"], "categories": copy.deepcopy(gt.dataset["categories"]), "annotations": []}
    return load_coco_gt(empty)


def coco_instance_metrics(gt: PathLike | dict | COCO, predictions: PathLike | list[dict],
                          class_agnostic: bool = False, iou_type: Literal["segm", "bbox"] = "segm",
                          image_ids: Iterable[int] | None = None, verbose: bool = False) -> dict[str, float]:
    """AP, AP50, AP75, APs/m/l, AR@1/10/100, ARs/m/l (percent) of COCO results against COCO ground truth.

    ``gt``: instances JSON path, parsed dict or ``COCO``; ``predictions``: results JSON path or list of
    entries (RLE ``segmentation``, ``score``, ``category_id``). ``image_ids`` restricts the evaluation
    (default: every ground-truth image). ``verbose`` prints pycocotools' own summary.
    """
    from pycocotools.cocoeval import COCOeval  # imported here, as load_coco_gt does with COCO

    coco_gt = load_coco_gt(gt)
    preds = load_coco_results(predictions, coco_gt, check_categories=not class_agnostic)
    if iou_type not in ("segm", "bbox"):
        raise FormatError(f"iou_type must be 'segm' or 'bbox', not {iou_type!r}")
    if class_agnostic:
        coco_gt, preds = _agnostic(coco_gt, preds)
    coco_dt = _load_results(coco_gt, preds)
    ev = COCOeval(coco_gt, coco_dt, iou_type)
    if image_ids is not None:
        ids = sorted(set(int(i) for i in image_ids))
        unknown = [i for i in ids if i not in coco_gt.imgs]
        if unknown:
            raise FormatError(f"image ids {unknown[:5]} are not in the ground truth")
        ev.params.imgIds = ids
    with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: (float(v) * 100 if v >= 0 else float("nan")) for k, v in zip(COCO_STATS, ev.stats)}


class InstanceEvaluator:
    """Streaming COCO mask AP / AR: ``reset()``, ``process(image_id, entries)`` per image, ``evaluate()``.

    ``process`` keeps one image's COCO result entries; ``evaluate`` runs :func:`coco_instance_metrics` once over
    every image processed (COCOeval accumulates over the whole set, as detectron2's COCOEvaluator does).
    """

    def __init__(self, gt: PathLike | dict | COCO, class_agnostic: bool = False,
                 iou_type: Literal["segm", "bbox"] = "segm") -> None:
        self.gt, self.class_agnostic, self.iou_type = load_coco_gt(gt), class_agnostic, iou_type
        self.reset()

    def reset(self) -> None:
        self.entries: list[dict] = []
        self.image_ids: list[int] = []

    def process(self, image_id: int, entries: list[dict]) -> None:
        """Add one image's predictions (an image with none still counts: its ground truth is missed)."""
        self.image_ids.append(image_id)
        self.entries += entries

    def evaluate(self) -> dict[str, float]:
        """The 12 COCO numbers (:data:`COCO_STATS`, percent) over the images processed."""
        if not self.image_ids:
            raise FormatError("no image was processed, so there is nothing to score")
        return coco_instance_metrics(self.gt, self.entries, self.class_agnostic, self.iou_type, self.image_ids)
