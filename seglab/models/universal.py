"""Mask2Former and OneFormer: one adapter that answers the spec's task (semantic, instance or panoptic).

Preprocessing and post-processing are the transformers processors' own
(``post_process_{semantic,instance,panoptic}_segmentation``); OneFormer also gets its
task token ("the task is panoptic", ...).

Category ids: the registry entry's label set (``spec.labels``, :mod:`seglab.datasets.labels`) maps the
model's contiguous label ids to the data set's ids, which ``Masks.labels`` and ``Segment.category_id``
carry (COCO: 1..200 panoptic, 1..90 instance; Cityscapes: the label ids 7..33 of its panoptic ground
truth; ADE20K: 1..150), so results compare directly with the ground truth. Weights loaded from a
``location`` whose class count differs from the label set's are another label set's: they keep their
contiguous ids, every class counts as a thing and nothing is fused. A ``SemanticMap`` always uses the
contiguous ids, which index its ``class_names`` (the weights' own ``id2label`` names).

Thing / stuff: from the OneFormer processor's class metadata when present, else from the label
set; stuff segments of one class are fused into one segment, as both panoptic formats (and
Mask2Former's own inference) do. ADE20K-150 has no thing / stuff split: every class is a thing
and nothing is fused.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from ..datasets.labels import get_label_set
from ..registry import ModelSpec
from ..results import Masks, PanopticMap, Segment, SemanticMap
from .base import HFAdapter


class UniversalSegmenter(HFAdapter):
    """Mask2Former / OneFormer -> :class:`SemanticMap`, :class:`Masks` or :class:`PanopticMap` by ``spec.task``."""

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: str, dtype: Any) -> None:
        super().__init__(spec, model, processor, device, dtype)
        id2label = model.config.id2label
        self.label_names: tuple[str, ...] = tuple(id2label[i] for i in range(len(id2label)))
        labels = get_label_set(spec.labels)
        known = labels if labels.fits(len(id2label)) else None  # else: weights of another label set (location=)
        self.category_ids: tuple[int, ...] = known.ids if known else tuple(range(len(id2label)))
        self.class_names: dict[int, str] = dict(zip(self.category_ids, self.label_names))
        metadata = getattr(getattr(processor, "image_processor", None), "metadata", None)
        if metadata and "thing_ids" in metadata:
            self.thing_labels: frozenset[int] | None = frozenset(int(i) for i in metadata["thing_ids"])
        elif known:
            self.thing_labels = frozenset(i for i, c in enumerate(known.categories) if c.isthing)
        else:
            self.thing_labels = None

    @classmethod
    def classes(cls, spec: ModelSpec) -> tuple[str, str]:
        if spec.family == "oneformer":
            return "OneFormerForUniversalSegmentation", "OneFormerProcessor"
        return "Mask2FormerForUniversalSegmentation", "Mask2FormerImageProcessor"

    def _forward(self, image: np.ndarray) -> SimpleNamespace:
        """The two outputs the post-processors read, in float32."""
        import torch

        extra = {"task_inputs": [self.spec.task]} if self.spec.family == "oneformer" else {}
        inputs = self.processor(images=image, return_tensors="pt", **extra)
        inputs = {k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
                  for k, v in inputs.items()}
        with torch.inference_mode():
            out = self.model(**inputs)
        return SimpleNamespace(class_queries_logits=out.class_queries_logits.float(),
                               masks_queries_logits=out.masks_queries_logits.float())

    def predict(self, image: np.ndarray, threshold: float = 0.5, mask_threshold: float = 0.5,
                probabilities: bool = False, **_: Any) -> SemanticMap | Masks | PanopticMap:
        """The spec's task. ``threshold``: minimum query score kept (instance, panoptic);
        ``mask_threshold``: mask probability that counts as inside; ``probabilities`` (semantic):
        keep the per-pixel class distribution (the processor's class scores, normalised per pixel)."""
        outputs = self._forward(image)
        size = image.shape[:2]
        if self.spec.task == "semantic":
            return self._semantic(outputs, size, probabilities)
        if self.spec.task == "instance":
            return self._instance(outputs, size, threshold, mask_threshold)
        return self._panoptic(outputs, size, threshold, mask_threshold)

    def _semantic(self, outputs: SimpleNamespace, size: tuple[int, int], probabilities: bool) -> SemanticMap:
        res = self.processor.post_process_semantic_segmentation(
            outputs, target_sizes=[size], return_segmentation_scores=True)[0]
        probs = None
        if probabilities:
            scores = res.segmentation_scores
            probs = (scores / scores.sum(0, keepdim=True).clamp_min(1e-12)).cpu().numpy()
        return SemanticMap(res.segmentation.cpu().numpy(), self.label_names, probs)

    def _instance(self, outputs: SimpleNamespace, size: tuple[int, int], threshold: float,
                  mask_threshold: float) -> Masks:
        common = {"threshold": threshold, "mask_threshold": mask_threshold, "target_sizes": [size]}
        if self.spec.family == "oneformer":  # one segment map; its segments do not overlap
            res = self.processor.post_process_instance_segmentation(outputs, task_type="instance", **common)[0]
            ids = np.array([s["id"] for s in res["segments_info"]])
            masks = res["segmentation"].cpu().numpy()[None] == ids[:, None, None]
        else:  # one binary map per instance; instances may overlap
            res = self.processor.post_process_instance_segmentation(outputs, return_binary_maps=True, **common)[0]
            masks = res["segmentation"].cpu().numpy().astype(bool) if res["segments_info"] else None
        info = res["segments_info"]
        if not info:
            return Masks.empty(*size, note=f"no instance scored {threshold} or more",
                               labels=np.zeros(0, np.int64), class_names=self.class_names)
        labels = [self.category_ids[s["label_id"]] for s in info]
        return Masks(masks, [s["score"] for s in info], labels=labels, class_names=self.class_names)

    def _panoptic(self, outputs: SimpleNamespace, size: tuple[int, int], threshold: float,
                  mask_threshold: float) -> PanopticMap:
        things = self.thing_labels
        stuff = set(range(len(self.label_names))) - things if things is not None else set()
        res = self.processor.post_process_panoptic_segmentation(
            outputs, threshold=threshold, mask_threshold=mask_threshold, label_ids_to_fuse=stuff,
            target_sizes=[size])[0]
        segment_ids = res["segmentation"].cpu().numpy().clip(min=0)  # -1 (nothing found) is void
        segments: dict[int, Segment] = {}
        for s in res["segments_info"]:  # a fused stuff segment is listed once per query: keep the first
            if s["id"] not in segments:
                label = s["label_id"]
                segments[s["id"]] = Segment(s["id"], self.category_ids[label],
                                            things is None or label in things, float(s["score"]))
        return PanopticMap(segment_ids, tuple(segments.values()), self.class_names)
