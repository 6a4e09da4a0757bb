"""Depth models (transformers): Depth Pro (metric, with focal length) and Depth Anything (relative or metric)."""
from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SeglabError
from ..protocols import get_protocol
from ..registry import ModelSpec
from ..results import DepthMap
from .base import HFAdapter, move, torch_dtype


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
    metric checkpoints (config ``depth_estimation_type == 'metric'``).

    Runs the official test-time path whatever the processor file says (:func:`official_pixels`,
    :func:`official_pos_encoding`, the bilinear enlargement of ``infer_image``), on weights from the Hub, a
    ``save_pretrained`` folder or an official ``.pth`` checkpoint (converted by :mod:`seglab.checkpoints`).
    """

    MODEL, PROCESSOR = "DepthAnythingForDepthEstimation", "AutoImageProcessor"

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: str, dtype: Any) -> None:
        super().__init__(spec, model, processor, device, dtype)
        self.kind = "metric" if model.config.depth_estimation_type == "metric" else "relative"
        embeddings = model.backbone.embeddings
        embeddings.interpolate_pos_encoding = types.MethodType(official_pos_encoding, embeddings)

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> DepthAnything:
        from ..checkpoints import is_official_checkpoint, load_official

        if not is_official_checkpoint(location):
            return super().load(spec, location, device, dtype)
        head = {k: v for k, v in spec.extra.items() if k in ("depth_estimation_type", "max_depth")}
        model, processor = load_official(location, spec.family, **head)
        dt = torch_dtype(dtype, device)
        return cls(spec, move(model, device, dt), processor, device, dt)

    def predict(self, image: np.ndarray, **_: Any) -> DepthMap:
        import torch

        with torch.inference_mode():
            protocol = get_protocol(self.spec.protocol)  # depth-anything-518: whatever the processor file says
            pixels = official_pixels(image, protocol.size[0], protocol.size_divisor).to(self.device, self.dtype)
            depth = self.model(pixel_values=pixels).predicted_depth.float()
            depth = torch.nn.functional.interpolate(depth[:, None], image.shape[:2], mode="bilinear",
                                                    align_corners=True)[0, 0]
        return DepthMap(depth.cpu().numpy(), self.kind)


# The official test-time input (DepthAnything/Depth-Anything-V2 depth_anything_v2/dpt.py ``image2tensor`` and
# depth_anything_v2/dinov2.py ``DINOv2``, commit a561b849ebae10a6f5ef49e26c83cbbcd36c71bf): short side 518, each
# side a multiple of 14, ImageNet mean / std, position embeddings interpolated with offset 0.1, no antialias.
INPUT_SIZE, MULTIPLE_OF = 518, 14
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
POS_OFFSET = 0.1


def official_input_size(height: int, width: int, size: int = INPUT_SIZE,
                        multiple: int = MULTIPLE_OF) -> tuple[int, int]:
    """(height, width) of the official ``Resize(keep_aspect_ratio=True, resize_method='lower_bound')``: the
    aspect kept with both sides at least ``size``, each rounded to a multiple of ``multiple`` (up if that
    rounding falls below ``size``). 427 x 640 -> 518 x 770."""
    scale = max(size / height, size / width)

    def side(x: float) -> int:
        y = int(np.round(x / multiple) * multiple)
        return y if y >= size else int(np.ceil(x / multiple) * multiple)

    return side(scale * height), side(scale * width)


def official_pixels(image: np.ndarray, size: int = INPUT_SIZE, multiple: int = MULTIPLE_OF) -> Any:
    """1 x 3 x h x w float32 network input of an H x W x 3 uint8 RGB image, as the official ``image2tensor``:
    /255 in float64, cv2 bicubic resize to :func:`official_input_size`, then normalised."""
    import cv2
    import torch

    h, w = official_input_size(*image.shape[:2], size=size, multiple=multiple)
    x = cv2.resize(image / 255.0, (w, h), interpolation=cv2.INTER_CUBIC)
    x = (x - np.array(MEAN)) / np.array(STD)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32))[None]


def official_pos_encoding(self: Any, embeddings: Any, height: int, width: int) -> Any:
    """DINOv2's own position-embedding interpolation, bound onto transformers' ``Dinov2Embeddings``.

    The official ``interpolate_pos_encoding`` resizes the grid bicubically by the scale factor
    ``(side // patch + 0.1) / grid`` (no antialias); transformers 5.24 resizes it to ``size=(side // patch)``
    (transformers/models/dinov2/modeling_dinov2.py, ``Dinov2Embeddings.interpolate_pos_encoding``, lines
    116-121), which samples other points of the grid wherever the input is not the 518 x 518 of training.
    """
    import torch

    grid_positions = self.position_embeddings.shape[1] - 1
    if embeddings.shape[1] - 1 == grid_positions and height == width:
        return self.position_embeddings
    pos = self.position_embeddings.float()
    dim, grid, patch = pos.shape[-1], math.sqrt(grid_positions), self.patch_embeddings.patch_size[0]
    scale = ((height // patch + POS_OFFSET) / grid, (width // patch + POS_OFFSET) / grid)
    patches = pos[:, 1:].reshape(1, int(grid), int(grid), dim).permute(0, 3, 1, 2)
    patches = torch.nn.functional.interpolate(patches, scale_factor=scale, mode="bicubic", antialias=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((pos[:, :1], patches), dim=1).to(embeddings.dtype)
