"""SAM 2's official preprocessing, which transformers' ``Sam2ImageProcessor`` does not reproduce from uint8 input.

The official ``SAM2Transforms`` turns the image into float in [0, 1] first, then stretches it to the 1024 x 1024
square (bilinear, antialiased) and normalises. ``Sam2ImageProcessor`` resizes the uint8 image and rounds to whole
grey levels (up to one level off on many pixels, so the embeddings differ); given the float image it computes
the official pixel values exactly. The other SAM 2 differences live in ``sam.FAMILIES["sam2"]``: logits go
straight to the image size (no padding to crop), and the returned low-resolution logits are clamped to +/-32.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from transformers import Sam2ImageProcessor


class OfficialSam2ImageProcessor(Sam2ImageProcessor):
    """``Sam2ImageProcessor`` that resizes uint8 images as float in [0, 1], as the official ``SAM2Transforms``."""

    def preprocess(self, images: Any, segmentation_maps: Any = None, **kwargs: Any) -> Any:
        listed = isinstance(images, (list, tuple))
        items = list(images) if listed else [images]
        if all(isinstance(im, np.ndarray) and im.dtype == np.uint8 for im in items):
            items = [im.astype(np.float32) / 255.0 for im in items]
            kwargs["do_rescale"] = False
            images = items if listed else items[0]
        return super().preprocess(images, segmentation_maps, **kwargs)
