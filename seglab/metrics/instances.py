"""COCO instance-mask metrics: COCOeval's matching and accumulation, run by faster-coco-eval's C++ engine.

``faster_coco_eval.COCOeval_faster`` gives pycocotools' COCOeval numbers exactly (the tests check all 12 against
pycocotools, which stays the reference) in about a third of its CPU time and half its peak memory at val2017 size
(``benchmarks.metric_speed``); COCOeval's matching is never reimplemented here. Numbers are in percent (AP 100 is
perfect); COCOeval's -1 ("no ground truth in this area range") becomes NaN. Class-agnostic mode (the SAM paper's
zero-shot proposal recall, AR@100) relabels every ground-truth annotation and every prediction to one category,
"object", and evaluates as usual: the common practice for class-agnostic masks (CutLER, UnSAM, EntitySeg).
COCOeval's ``params.useCats = 0`` gives the same numbers up to the order ties are broken in, but silently drops
predictions whose category id is not a ground-truth category, which proposals often lack. The engine writes
``ignore`` and ``rle`` into every annotation it evaluates, so it gets copies: the caller's ground truth and results
are never edited.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from ..formats import FormatError, PathLike, load_coco_gt, load_coco_results

if TYPE_CHECKING:
    import faster_coco_eval
    from pycocotools.coco import COCO

COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR@1", "AR@10", "AR@100", "ARs", "ARm", "ARl")
"""Names of COCOeval's ``stats`` entries, in its order."""

_OBJECT = {"id": 1, "name": "object", "supercategory": "object"}


def _engine_gt(gt: COCO, class_agnostic: bool) -> faster_coco_eval.COCO:
    """faster-coco-eval's ``COCO`` over copies of ``gt``'s annotations (relabelled to "object" if class-agnostic)."""
    from faster_coco_eval import COCO as EngineCOCO  # imported here, as load_coco_gt does with pycocotools

    relabel = {"category_id": 1} if class_agnostic else {}
    return EngineCOCO({"images": gt.dataset["images"],
                       "annotations": [{**a, **relabel} for a in gt.dataset["annotations"]],
                       "categories": [_OBJECT] if class_agnostic else gt.dataset["categories"]})


def coco_instance_metrics(gt: PathLike | dict | COCO, predictions: PathLike | list[dict],
                          class_agnostic: bool = False, iou_type: Literal["segm", "bbox"] = "segm",
                          image_ids: Iterable[int] | None = None, verbose: bool = False) -> dict[str, float]:
    """AP, AP50, AP75, APs/m/l, AR@1/10/100, ARs/m/l (percent) of COCO results against COCO ground truth.

    ``gt``: instances JSON path, parsed dict or pycocotools ``COCO``; ``predictions``: results JSON path or list
    of entries (RLE ``segmentation``, ``score``, ``category_id``). ``image_ids`` restricts the evaluation
    (default: every ground-truth image). ``verbose`` prints COCOeval's summary table.
    """
    from faster_coco_eval import COCOeval_faster

    coco_gt = load_coco_gt(gt)
    preds = load_coco_results(predictions, coco_gt, check_categories=not class_agnostic)  # copies
    if iou_type not in ("segm", "bbox"):
        raise FormatError(f"iou_type must be 'segm' or 'bbox', not {iou_type!r}")
    ids = None if image_ids is None else sorted({int(i) for i in image_ids})
    unknown = [i for i in ids or () if i not in coco_gt.imgs]
    if unknown:
        raise FormatError(f"image ids {unknown[:5]} are not in the ground truth")
    engine_gt = _engine_gt(coco_gt, class_agnostic)
    if class_agnostic:
        for p in preds:
            p["category_id"] = 1
    ev = COCOeval_faster(engine_gt, engine_gt.loadRes(preds), iou_type,
                         print_function=print if verbose else logging.getLogger(__name__).debug)
    if ids is not None:
        ev.params.imgIds = ids
    ev.run()
    return {k: (float(v) * 100 if v >= 0 else float("nan")) for k, v in zip(COCO_STATS, ev.stats, strict=True)}


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
