"""torchvision models: FCN / DeepLabV3 / LRASPP (VOC-21 semantic) and Mask R-CNN (COCO instance).

``spec.weights`` is the torchvision builder name. Weights come from the torch hub cache
(``get_model(name, weights="DEFAULT")``, downloading when online) or, with ``location``,
from a state-dict file saved with ``torch.save(model.state_dict(), path)``. Preprocessing
is the weights' own ``transforms()``; class names are the weights' ``meta['categories']``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from PIL import Image

from ..errors import WeightsUnavailableError
from ..registry import ModelSpec
from ..results import Masks, SemanticMap
from .base import download_hint, move, offline_mode, torch_dtype


def _weights(spec: ModelSpec) -> Any:
    """The builder's DEFAULT weights enum (metadata only: nothing is downloaded)."""
    from torchvision.models import get_model_weights

    return get_model_weights(spec.weights).DEFAULT


def _hub_checkpoints() -> Path:
    """``torch.hub.get_dir()/checkpoints``, found as torch finds it but without importing torch."""
    home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "torch"
    return Path(home).expanduser() / "hub" / "checkpoints"


def torchvision_is_cached(spec: ModelSpec) -> bool:
    """True when the DEFAULT weights file is in ``torch.hub.get_dir()/checkpoints``. Without a file named after
    the builder there, no torch is imported (listing the app's models stays light)."""
    folder = _hub_checkpoints()
    if not folder.is_dir() or not any(f.name.startswith(f"{spec.weights}_") for f in folder.iterdir()):
        return False
    import torch

    name = os.path.basename(urlparse(_weights(spec).url).path)
    return (Path(torch.hub.get_dir()) / "checkpoints" / name).is_file()


def _build(spec: ModelSpec, location: str | Path | None) -> Any:
    """The model with DEFAULT weights from the torch cache (or download), or from a state-dict file."""
    from torchvision.models import get_model

    if location is None:
        if offline_mode() and not torchvision_is_cached(spec):
            raise WeightsUnavailableError(download_hint(spec))
        try:
            return get_model(spec.weights, weights="DEFAULT")
        except OSError:  # URLError and friends: no network
            raise WeightsUnavailableError(download_hint(spec)) from None
    import torch

    try:
        state = torch.load(location, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as e:
        raise WeightsUnavailableError(f"{spec.id}: cannot read a state dict from {location}: {e}") from None
    options: dict[str, Any] = {"num_classes": len(_weights(spec).meta["categories"])}
    if any(k.startswith("aux_classifier.") for k in state):
        options["aux_loss"] = True
    model = get_model(spec.weights, weights=None, weights_backbone=None, **options)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise WeightsUnavailableError(f"{spec.id}: {location} does not hold {spec.weights} weights: {e}") from None
    return model


def _to_tensor(image: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)  # 3 x H x W uint8


class TorchvisionSemantic:
    """FCN / DeepLabV3 / LRASPP -> :class:`SemanticMap` over the 21 VOC classes, at the image's size or, on
    request, at the protocol's (``torchvision-voc-520``)."""

    def __init__(self, spec: ModelSpec, model: Any, device: str, dtype: Any) -> None:
        weights = _weights(spec)
        self.spec, self.model, self.device, self.dtype = spec, model, device, dtype
        self.transform = weights.transforms()
        self.class_names: tuple[str, ...] = tuple(weights.meta["categories"])

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> TorchvisionSemantic:
        torch_type = torch_dtype(dtype, device)
        return cls(spec, move(_build(spec, location), device, torch_type), device, torch_type)

    def predict(self, image: np.ndarray, probabilities: bool = False, resized: bool = False,
                **_: Any) -> SemanticMap:
        """Per-pixel VOC class; ``probabilities=True`` also keeps the C x H x W softmax.

        ``resized=True`` gives them at the size the network saw (the weights' transforms: short side 520), where
        torchvision's reference scores them (``scored_at="resized"``); otherwise at the image's size.
        """
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            # a PIL image, as the reference's evaluation gives the weights' transforms (PIL's resize, not torch's)
            x = self.transform(Image.fromarray(image))[None].to(self.device, self.dtype)
            logits = self.model(x)["out"].float()
            size = x.shape[-2:] if resized else image.shape[:2]
            logits = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)[0]
            probs = logits.softmax(0) if probabilities else None
            labels = logits.argmax(0)
        return SemanticMap(labels.cpu().numpy(), self.class_names,
                           probs.cpu().numpy() if probs is not None else None)


class TorchvisionMaskRCNN:
    """Mask R-CNN -> :class:`Masks` whose labels are COCO category ids (the weights index them directly)."""

    def __init__(self, spec: ModelSpec, model: Any, device: str, dtype: Any) -> None:
        weights = _weights(spec)
        self.spec, self.model, self.device, self.dtype = spec, model, device, dtype
        self.transform = weights.transforms()
        self.class_names: dict[int, str] = {
            i: n for i, n in enumerate(weights.meta["categories"]) if n not in ("__background__", "N/A")}

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> TorchvisionMaskRCNN:
        torch_type = torch_dtype(dtype, device)
        return cls(spec, move(_build(spec, location), device, torch_type), device, torch_type)

    def predict(self, image: np.ndarray, threshold: float = 0.0, mask_threshold: float = 0.5, **_: Any) -> Masks:
        """Detections scoring at least ``threshold`` (by default every detection the network keeps: its own
        ``box_score_thresh`` 0.05 and 100 an image, as torchvision's COCO evaluation scores them); a mask pixel is on
        where its probability > ``mask_threshold``."""
        import torch

        h, w = image.shape[:2]
        with torch.inference_mode():
            x = self.transform(_to_tensor(image)).to(self.device, self.dtype)
            out = self.model([x])[0]
            keep = out["scores"] >= threshold
            masks = out["masks"][keep, 0].float() > mask_threshold
            result = {k: v[keep].float().cpu().numpy() for k, v in out.items() if k in ("scores", "boxes")}
            labels = out["labels"][keep].cpu().numpy()
        if not len(labels):
            return Masks.empty(h, w, note=f"no detection scored {threshold} or more", labels=np.zeros(0, np.int64),
                               class_names=self.class_names)
        return Masks(masks.cpu().numpy(), result["scores"], labels=labels, boxes=result["boxes"],
                     class_names=self.class_names)
