"""mmseg's test-time resize and sliding-window inference, as pure functions (SegFormer's official protocols).

The arithmetic follows the code the published numbers came from: ``mmcv.rescale_size`` (mmcv 1.2.7, the
version NVlabs/SegFormer pins), the mmseg fork's ``AlignedResize`` (size rounded up to ``size_divisor``) and
``EncoderDecoder.slide_inference`` (windows of ``crop`` every ``stride``, the last one shifted back inside the
image, logits summed and divided by the count of windows covering each pixel).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

Window = tuple[int, int, int, int]  # y1, y2, x1, x2 (end exclusive)


def rescale_size(height: int, width: int, scale: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of ``mmcv.rescale_size``: the largest factor with long side <= max(scale) and short side <=
    min(scale), each side scaled and rounded half up (``int(x * f + 0.5)``)."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def aligned_size(height: int, width: int, divisor: int) -> tuple[int, int]:
    """(h, w) rounded up to multiples of ``divisor`` (``AlignedResize._align``); unchanged when it is 0."""
    if not divisor:
        return height, width
    return math.ceil(height / divisor) * divisor, math.ceil(width / divisor) * divisor


def keep_ratio_resize(image: np.ndarray, scale: tuple[int, int], size_divisor: int = 0) -> np.ndarray:
    """``Resize(keep_ratio=True)`` / ``AlignedResize``: bilinear (cv2, as ``mmcv.imresize``) to
    :func:`rescale_size`, then, with a divisor, a second bilinear resize to :func:`aligned_size` of that."""
    h, w = rescale_size(*image.shape[:2], scale)
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    ah, aw = aligned_size(h, w, size_divisor)
    return image if (ah, aw) == (h, w) else cv2.resize(image, (aw, ah), interpolation=cv2.INTER_LINEAR)


def window_grid(height: int, width: int, crop: tuple[int, int], stride: tuple[int, int]) -> list[Window]:
    """The windows of ``slide_inference`` over an image of ``height`` x ``width``, row by row.

    ``max(h - crop + stride - 1, 0) // stride + 1`` windows per axis; a window reaching past the image is
    shifted back to end at its border; a side shorter than the crop gets one window as long as the side.
    """
    (h_crop, w_crop), (h_stride, w_stride) = crop, stride
    if not (0 < h_stride <= h_crop and 0 < w_stride <= w_crop):
        raise ValueError(f"stride {stride} must be positive and at most the crop {crop}, so that windows leave no gap")
    h_grids = max(height - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(width - w_crop + w_stride - 1, 0) // w_stride + 1
    windows = []
    for i in range(h_grids):
        for j in range(w_grids):
            y2, x2 = min(i * h_stride + h_crop, height), min(j * w_stride + w_crop, width)
            windows.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return windows


def slide_logits(pixels: Any, logits_fn: Callable[[Any], Any], crop: tuple[int, int],
                 stride: tuple[int, int]) -> Any:
    """Sliding-window logits (torch) of a ``1 x 3 x H x W`` input: ``logits_fn(window) -> 1 x C x h x w`` at
    the window's size, summed over the windows of :func:`window_grid` and divided by how many cover each pixel."""
    import torch

    height, width = pixels.shape[-2:]
    total = count = None
    for y1, y2, x1, x2 in window_grid(height, width, crop, stride):
        logits = logits_fn(pixels[..., y1:y2, x1:x2])
        if total is None:
            total = logits.new_zeros((*logits.shape[:2], height, width))
            count = torch.zeros((height, width), dtype=logits.dtype, device=logits.device)
        total[..., y1:y2, x1:x2] += logits
        count[y1:y2, x1:x2] += 1
    return total / count
