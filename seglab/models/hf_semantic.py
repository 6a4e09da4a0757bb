"""SegFormer (transformers): image -> :class:`SemanticMap` with the model's own ``id2label`` names.

The test protocol is the registry entry's (``spec.protocol``), whatever the downloaded processor file says.
``keep-ratio`` (the paper's, mmseg's test pipeline): resize to fit (2048, 512) / (2048, 640) with sides rounded
up to 32 (ADE20K) or to fit (2048, 1024) (Cityscapes), the processor only rescaling and normalising; then the
whole image or sliding windows, logits resized bilinearly to the network input, then to the image. ``fixed``
(the part models' cards): the processor's resize to the protocol's size, logits resized straight to the image.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SeglabError
from ..protocols import get_protocol
from ..registry import ModelSpec
from ..results import SemanticMap
from .base import HFAdapter
from .sliding import keep_ratio_resize, slide_logits


class SegformerSemantic(HFAdapter):
    """SegformerForSemanticSegmentation + SegformerImageProcessor; labels at the image's size."""

    MODEL, PROCESSOR = "SegformerForSemanticSegmentation", "SegformerImageProcessor"

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: str, dtype: Any) -> None:
        super().__init__(spec, model, processor, device, dtype)
        self.protocol = get_protocol(spec.protocol)
        if self.protocol.resize not in ("keep-ratio", "fixed") or not self.protocol.size:
            raise SeglabError(f"{spec.id}: SegFormer runs keep-ratio or fixed-size protocols, not "
                              f"{self.protocol.id!r} (resize {self.protocol.resize!r})")
        id2label = model.config.id2label
        self.class_names: tuple[str, ...] = tuple(id2label[i] for i in range(len(id2label)))

    def _logits(self, pixels: Any) -> Any:
        """``encode_decode``: the network's logits resized bilinearly to its input's size."""
        import torch.nn.functional as F

        logits = self.model(pixel_values=pixels).logits.float()
        return F.interpolate(logits, size=pixels.shape[-2:], mode="bilinear", align_corners=False)

    def predict(self, image: np.ndarray, probabilities: bool = False, **_: Any) -> SemanticMap:
        """Per-pixel class; ``probabilities=True`` also keeps the C x H x W softmax."""
        import torch
        import torch.nn.functional as F

        p = self.protocol
        if p.resize == "fixed":
            size = {"height": p.size[0], "width": p.size[1]}
            pixels = self.processor(images=image, size=size, return_tensors="pt")["pixel_values"]
        else:
            resized = keep_ratio_resize(image, p.size, p.size_divisor)
            pixels = self.processor(images=resized, do_resize=False, return_tensors="pt")["pixel_values"]
        pixels = pixels.to(self.device, self.dtype)
        with torch.inference_mode():
            if p.resize == "fixed":
                logits = self.model(pixel_values=pixels).logits.float()
            elif p.inference == "slide":
                logits = slide_logits(pixels, self._logits, p.crop, p.stride)
            else:
                logits = self._logits(pixels)
            logits = F.interpolate(logits, size=image.shape[:2], mode="bilinear", align_corners=False)[0]
            probs = logits.softmax(0).cpu().numpy() if probabilities else None
            labels = logits.argmax(0).to(torch.int32).cpu().numpy()
        return SemanticMap(labels, self.class_names, probs)
