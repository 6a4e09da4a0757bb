"""Mask2Former and OneFormer: one adapter that answers the spec's task (semantic, instance or panoptic).

The spec's protocol (:mod:`seglab.protocols`) decides the test pre- and post-processing, whatever the
processor file says (the Hub's say 384 x 384): detectron2's shortest-edge resize, the processor's
normalisation, zero padding to the size divisor, and the official inference of
:mod:`seglab.models.maskformer_inference`; OneFormer also gets its task token ("the task is panoptic", ...).

Category ids: the registry entry's label set (``spec.labels``, :mod:`seglab.datasets.labels`) maps the
model's contiguous label ids to the data set's ids, which ``Masks.labels`` and ``Segment.category_id``
carry (COCO: 1..200 panoptic, 1..90 instance; Cityscapes: the label ids 7..33 of its panoptic ground
truth; ADE20K: 1..150), so results compare directly with the ground truth. Weights loaded from a
``location`` whose class count differs from the label set's are another label set's: they keep their
contiguous ids, every class counts as a thing and nothing is fused. A ``SemanticMap`` always uses the
contiguous ids, which index its ``class_names`` (the weights' own ``id2label`` names).

Thing / stuff: from the OneFormer processor's class metadata when present, else from the label
set; stuff segments of one class are fused into one segment, as Mask2Former's own inference does.
ADE20K-150 has no thing / stuff split: every class is a thing and nothing is fused.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..datasets.labels import get_label_set
from ..errors import UnsupportedTaskError
from ..protocols import get_protocol
from ..registry import ModelSpec
from ..results import Masks, PanopticMap, Segment, SemanticMap
from . import maskformer_inference as inference
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

    def _forward(self, image: np.ndarray) -> tuple[Any, Any, inference.Geometry]:
        """(class logits (Q, C + 1), mask logits (Q, h, w)) in float32 and the image's geometry.

        detectron2's test input: short side ``size[0]``, long side at most ``size[1]`` (PIL bilinear), the
        processor's normalisation only (``do_resize=False``: its own resize would round the size up to 32,
        stretching the image), zero padding at the bottom / right to ``size_divisor``.
        """
        import torch

        protocol = get_protocol(self.spec.protocol)
        resized = inference.resized_shape(*image.shape[:2], *protocol.size)
        extra = {"task_inputs": [self.spec.task]} if self.spec.family == "oneformer" else {}
        inputs = self.processor(images=inference.resize_image(image, resized), do_resize=False,
                                return_tensors="pt", **extra)
        pixels = inference.pad_to_multiple(inputs["pixel_values"][..., : resized[0], : resized[1]],
                                           protocol.size_divisor)
        if "task_inputs" in inputs:
            extra = {"task_inputs": inputs["task_inputs"].to(self.device)}
        with torch.inference_mode():
            out = self.model(pixel_values=pixels.to(self.device, self.dtype), **extra)
        geometry = inference.Geometry(tuple(pixels.shape[-2:]), resized, image.shape[:2])
        return out.class_queries_logits[0].float(), out.masks_queries_logits[0].float(), geometry

    def predict(self, image: np.ndarray, threshold: float | None = None, mask_threshold: float = 0.5,
                probabilities: bool = False, **_: Any) -> SemanticMap | Masks | PanopticMap:
        """The spec's task under its protocol. ``threshold``: panoptic: the class probability a query needs
        (default the protocol's ``object_mask_threshold``); instance: the minimum score kept (default none, as
        the official top-k); ``mask_threshold``: the mask probability that counts as inside (official 0.5);
        ``probabilities`` (semantic): keep the per-pixel class distribution (the class scores, normalised per pixel)."""
        import torch

        protocol = get_protocol(self.spec.protocol)
        on = protocol.inferences()
        class_logits, mask_logits, geometry = self._forward(image)
        with torch.inference_mode():
            if self.spec.task == "semantic":
                scores = inference.semantic_inference(class_logits, mask_logits, geometry,
                                                      before=bool(on & {"instance", "panoptic"}))
                return self._semantic(scores, probabilities)
            if self.spec.task == "instance":
                things = self.thing_labels if "panoptic" in on else None
                masks, scores, labels = inference.instance_inference(
                    class_logits, mask_logits, geometry, protocol.top_k or 100, things, mask_threshold)
                return self._instance(masks, scores, labels, geometry.original, threshold)
            if protocol.object_mask_threshold is None or protocol.overlap_threshold is None:
                raise UnsupportedTaskError(f"{self.spec.id}: protocol {protocol.id!r} has no panoptic thresholds")
            panoptic, segments = inference.panoptic_inference(
                class_logits, mask_logits, geometry, self.thing_labels,
                protocol.object_mask_threshold if threshold is None else threshold, protocol.overlap_threshold,
                mask_threshold)
        return PanopticMap(panoptic.cpu().numpy(),
                           tuple(Segment(s.id, self.category_ids[s.label], s.isthing, s.score) for s in segments),
                           self.class_names)

    def _semantic(self, scores: Any, probabilities: bool) -> SemanticMap:
        probs = None
        if probabilities:
            probs = (scores / scores.sum(0, keepdim=True).clamp_min(1e-12)).cpu().numpy()
        return SemanticMap(scores.argmax(0).int().cpu().numpy(), self.label_names, probs)

    def _instance(self, masks: Any, scores: Any, labels: Any, size: tuple[int, int],
                  threshold: float | None) -> Masks:
        if threshold is not None:
            keep = scores >= threshold
            masks, scores, labels = masks[keep], scores[keep], labels[keep]
        if not len(scores):
            note = "no instance found" if threshold is None else f"no instance scored {threshold} or more"
            return Masks.empty(*size, note=note, labels=np.zeros(0, np.int64), class_names=self.class_names)
        return Masks(masks.cpu().numpy(), scores.cpu().numpy(), labels=[self.category_ids[int(c)] for c in labels],
                     class_names=self.class_names)
