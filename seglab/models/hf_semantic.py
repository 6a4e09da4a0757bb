"""SegFormer (transformers): image -> :class:`SemanticMap` with the model's own ``id2label`` names."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import ModelSpec
from ..results import SemanticMap
from .base import HFAdapter


class SegformerSemantic(HFAdapter):
    """SegformerForSemanticSegmentation + SegformerImageProcessor; labels at the image's size."""

    MODEL, PROCESSOR = "SegformerForSemanticSegmentation", "SegformerImageProcessor"

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: str, dtype: Any) -> None:
        super().__init__(spec, model, processor, device, dtype)
        id2label = model.config.id2label
        self.class_names: tuple[str, ...] = tuple(id2label[i] for i in range(len(id2label)))

    def predict(self, image: np.ndarray, probabilities: bool = False, **_: Any) -> SemanticMap:
        """Per-pixel class; ``probabilities=True`` also keeps the C x H x W softmax."""
        import torch

        pixels = self.processor(images=image, return_tensors="pt")["pixel_values"].to(self.device, self.dtype)
        with torch.inference_mode():
            outputs = self.model(pixel_values=pixels)
            outputs.logits = outputs.logits.float()
            res = self.processor.post_process_semantic_segmentation(
                outputs, target_sizes=[image.shape[:2]], return_segmentation_scores=True)[0]
            probs = res.segmentation_scores.softmax(0).cpu().numpy() if probabilities else None
        return SemanticMap(res.segmentation.cpu().numpy(), self.class_names, probs)
