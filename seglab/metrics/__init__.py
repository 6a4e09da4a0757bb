"""Metrics that equal the reference tools' numbers: pure functions and streaming evaluators.

Scales: COCO AP/AR, PQ/SQ/RQ and mIoU / accuracies are in percent (100 is perfect), as papers,
detectron2 and mmseg report them; depth errors are in metres (RMSE) or unitless ratios, and the
delta accuracies are fractions in 0..1, as depth papers report them. Undefined numbers are NaN.

Every metric has a streaming evaluator with detectron2's protocol: ``reset()``, ``process(gt, pred)`` per image
(returns None) and ``evaluate() -> dict`` of named numbers: :class:`InstanceEvaluator` (AP / AR),
:class:`PanopticEvaluator` (PQ), :class:`SemanticEvaluator` (mIoU), :class:`DepthEvaluator` and
:class:`InteractiveEvaluator` (mIoU@k / NoC of simulated clicks). :mod:`.latency` is the clock of the benchmark.
"""
from .depth import DepthEvaluator, align_depth, depth_metrics
from .instances import COCO_STATS, InstanceEvaluator, coco_instance_metrics
from .interactive import InteractiveEvaluator, mask_iou, summarize
from .latency import LatencyStats, Timer, measure
from .panoptic import PanopticEvaluator, pq_compute_files
from .semantic import (SemanticEvaluator, coco_to_voc_labels, confusion_matrix, panoptic_semantic_classes,
                       panoptic_to_semantic, semantic_metrics)

__all__ = [
    "COCO_STATS", "DepthEvaluator", "InstanceEvaluator", "InteractiveEvaluator", "LatencyStats", "PanopticEvaluator",
    "SemanticEvaluator", "Timer", "align_depth", "coco_instance_metrics", "coco_to_voc_labels", "confusion_matrix",
    "depth_metrics", "mask_iou", "measure", "panoptic_semantic_classes", "panoptic_to_semantic", "pq_compute_files",
    "semantic_metrics", "summarize",
]
