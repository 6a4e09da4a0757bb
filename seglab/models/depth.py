"""Depth models (transformers): Depth Pro (metric, with focal length) and Depth Anything (relative or metric)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import SeglabError
from ..registry import ModelSpec
from ..results import DepthMap
from .base import HFAdapter


def _pixels(processor: Any, image: np.ndarray, device: str, dtype: Any) -> Any:
    return processor(images=image, return_tensors="pt")["pixel_values"].to(device, dtype)


class DepthPro(HFAdapter):
    """DepthProForDepthEstimation -> metric :class:`DepthMap` in metres with ``focal_length_px``.

    The model predicts inverse depth for a canonical camera plus a horizontal field of view;
    the processor turns both into metres at the image's size. A known focal length
    (``predict(image, focal_length_px=...)``) replaces the estimated field of view, which
    rescales the depth exactly as the processor does for its own estimate. A checkpoint
    without the field-of-view head, given no focal length, assumes one equal to the image width.
    """

    MODEL, PROCESSOR = "DepthProForDepthEstimation", "DepthProImageProcessor"

    def predict(self, image: np.ndarray, focal_length_px: float | None = None, **_: Any) -> DepthMap:
        """Metric depth; ``focal_length_px`` (the camera's, in pixels of this image) overrides the estimate."""
        import torch

        if focal_length_px is not None and not (math.isfinite(focal_length_px) and focal_length_px > 0):
            raise SeglabError(f"focal_length_px must be a positive number of pixels, got {focal_length_px}")
        h, w = image.shape[:2]
        with torch.inference_mode():
            out = self.model(pixel_values=_pixels(self.processor, image, self.device, self.dtype))
            fov = out.field_of_view.float() if out.field_of_view is not None else None
            if focal_length_px is not None or fov is None:
                f = float(focal_length_px or w)
                fov = torch.tensor([math.degrees(2 * math.atan(0.5 * w / f))], device=out.predicted_depth.device)
            out.predicted_depth, out.field_of_view = out.predicted_depth.float(), fov
            res = self.processor.post_process_depth_estimation(out, target_sizes=[(h, w)])[0]
        return DepthMap(res["predicted_depth"].cpu().numpy(), "metric", float(res["focal_length"]))


class DepthAnything(HFAdapter):
    """DepthAnythingForDepthEstimation -> :class:`DepthMap`: relative inverse depth, or metres for the
    metric checkpoints (config ``depth_estimation_type == 'metric'``)."""

    MODEL, PROCESSOR = "DepthAnythingForDepthEstimation", "AutoImageProcessor"

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: str, dtype: Any) -> None:
        super().__init__(spec, model, processor, device, dtype)
        self.kind = "metric" if model.config.depth_estimation_type == "metric" else "relative"

    def predict(self, image: np.ndarray, **_: Any) -> DepthMap:
        import torch

        with torch.inference_mode():
            out = self.model(pixel_values=_pixels(self.processor, image, self.device, self.dtype))
            out.predicted_depth = out.predicted_depth.float()
            res = self.processor.post_process_depth_estimation(out, target_sizes=[image.shape[:2]])[0]
        return DepthMap(res["predicted_depth"].cpu().numpy(), self.kind)
