"""One promptable predictor for SAM, SAM-HQ and SAM 2.1 (transformers): embed an image once, prompt it many times.

The image encoder runs once per image; its output (an :class:`Embedding`) is kept in an
explicit, byte-bounded :class:`~seglab.cache.LRUCache` of the predictor instance (every caller of that
loaded model shares it) keyed by ``(model id, image content hash)``, so a changed image always
gets a fresh embedding. Each prompt then runs only the prompt encoder and mask decoder.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import LRUCache, one
from ..errors import InvalidPromptError
from ..images import image_hash
from ..levels import pick_level
from ..prompts import Prompt
from ..registry import EVERYTHING_DEFAULTS, ModelSpec
from ..results import Masks
from .base import hf_load, move, torch_dtype

REGION_LOGIT = 10.0  # a binary region becomes +/-10 logits, as SAM 2 turns masks into mask-decoder logits


def _sam_embed(model: Any, pixel_values: Any) -> dict[str, Any]:
    return {"image_embeddings": model.get_image_embeddings(pixel_values)}


def _sam_hq_embed(model: Any, pixel_values: Any) -> dict[str, Any]:
    image_embeddings, intermediate = model.get_image_embeddings(pixel_values)
    return {"image_embeddings": image_embeddings, "intermediate_embeddings": list(intermediate)}


@dataclass(frozen=True)
class Family:
    """The transformers classes of one SAM family, how its image encoder output is fed back to ``forward``,
    and where its official code differs between families:

    ``two_step_upscale``: SAM / SAM-HQ enlarge low-resolution logits to the padded square input, crop the
    padding, then resize to the image; SAM 2 (stretched, not padded) resizes straight to the image.
    ``logit_limit``: SAM 2 clamps the low-resolution logits it returns (the refinement input) to +/- this.
    ``everything_defaults``: where the family's official automatic mask generator has other defaults than
    :class:`~seglab.everything.EverythingParams` (:data:`~seglab.registry.EVERYTHING_DEFAULTS`).
    ``point_decoder``: single-point batches (segment everything) run :mod:`~seglab.models.sam_points`, which
    shares the image-side work between prompts, instead of the model's forward.
    ``scale_on_device``: the processor only resizes (uint8, on the host) and the rescale, normalisation and
    padding run on the model's device, as the official ``SamPredictor`` does; the pixel values are identical.
    SAM 2 rescales before it resizes, so its processor does it all.
    """

    model: str
    processor: str
    embed: Callable[[Any, Any], dict[str, Any]]
    two_step_upscale: bool = True
    logit_limit: float | None = None
    everything_defaults: dict[str, Any] = field(default_factory=dict)
    point_decoder: bool = False
    scale_on_device: bool = False


# SAM 2's get_image_embeddings returns its multi-level features (two high-resolution maps + the
# 64 x 64 embedding) as one list, which forward takes back as ``image_embeddings``.
FAMILIES: dict[str, Family] = {
    "sam": Family("SamModel", "SamProcessor", _sam_embed, point_decoder=True, scale_on_device=True),
    "sam-hq": Family("SamHQModel", "SamHQProcessor", _sam_hq_embed, scale_on_device=True),
    "sam2": Family("Sam2Model", "Sam2Processor", _sam_embed, two_step_upscale=False, logit_limit=32.0,
                   everything_defaults=EVERYTHING_DEFAULTS["sam2"]),
}


@dataclass(frozen=True)
class Embedding:
    """The image encoder's output for one image, with the geometry needed to map prompts and masks.

    ``input_size`` is the (h, w) the image was resized to inside the model's square input
    of side ``pad_size`` (SAM keeps the aspect ratio and pads; SAM 2 stretches to the square).
    """

    key: tuple[str, str]
    features: dict[str, Any]
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    pad_size: int

    @property
    def nbytes(self) -> int:
        from ..cache import nbytes

        return nbytes(self.features)

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Image pixel coordinates (..., 2) -> the model's input coordinates (what the processor computes)."""
        (h, w), (ih, iw) = self.original_size, self.input_size
        return np.asarray(xy, np.float32) * np.array([iw / w, ih / h], np.float32)


def scale_and_pad(resized: Any, image_processor: Any) -> Any:
    """A resized uint8 batch (N, 3, h, w) on any device -> the processor's float32 pixel values, bit for bit:
    rescaled in float64 then cast, normalised, zero-padded at the bottom and right to its ``pad_size``."""
    import torch

    x = (resized.double() * image_processor.rescale_factor).float()
    mean, std = (torch.tensor(v, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
                 for v in (image_processor.image_mean, image_processor.image_std))
    pad = image_processor.pad_size
    return torch.nn.functional.pad((x - mean) / std, (0, pad.width - x.shape[-1], 0, pad.height - x.shape[-2]))


@functools.lru_cache(maxsize=16)
def resize_matrix(n: int, side: int | None, crop: int, out: int) -> Any:
    """(n, out) matrix of one axis of the official mask upscaling: bilinear (align_corners=False) from ``n`` to
    ``side``, keep the first ``crop``, bilinear to ``out`` (``side`` None: straight from ``n`` to ``out``); the
    same ``F.interpolate`` calls applied to the unit impulses."""
    import torch
    import torch.nn.functional as F

    x = torch.eye(n, dtype=torch.float64)[:, None, None, :]
    if side is not None:
        x = F.interpolate(x, (1, side), mode="bilinear", align_corners=False)[..., :crop]
    return F.interpolate(x, (1, out), mode="bilinear", align_corners=False)[:, 0, 0].float()


class SamPredictor:
    """Points, boxes, a rough region and previous logits -> :class:`Masks`.

    For the families ``sam``, ``sam-hq`` and ``sam2``.
    """

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: str, dtype: Any,
                 cache: LRUCache | None = None, family: str | None = None) -> None:
        self.spec = spec
        self.model = model
        self.processor = processor
        self.family = FAMILIES[family or spec.family]
        self.device = device
        self.dtype = dtype
        self.cache = cache if cache is not None else LRUCache()
        self._image_sides = LRUCache(2, one)  # the point decoder's per-image part of the last images

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32", family: str | None = None) -> SamPredictor:
        """Model and processor from ``location`` (a ``save_pretrained`` folder, or an official ``.pth`` / ``.pt``
        checkpoint, converted by :mod:`seglab.checkpoints`) or the Hub repo ``spec.weights``; ``family``
        overrides ``spec.family`` (for a model that wraps SAM, such as the text route).

        SAM and SAM-HQ run with the official preprocessing (PIL resize) and the official mask decoder
        LayerNorm eps, whichever way they were loaded."""
        import transformers

        from ..checkpoints import is_official_checkpoint, load_official
        from ..checkpoints.sam import set_official_decoder_eps
        from .sam_hq_decoder import use_official_decoder

        name = family or spec.family
        classes = FAMILIES[name]
        if is_official_checkpoint(location):
            model, processor = load_official(location, name)
        else:
            model = hf_load(getattr(transformers, classes.model), spec, location)
            if name in ("sam", "sam-hq"):  # the official PIL resize, not the torchvision one
                pil = hf_load(transformers.SamImageProcessorPil, spec, location)
                processor = getattr(transformers, classes.processor)(image_processor=pil)
            else:  # SAM 2: the official resize of the float image, not of the uint8 one
                from .sam2_parts import OfficialSam2ImageProcessor

                image_processor = hf_load(OfficialSam2ImageProcessor, spec, location)
                processor = getattr(transformers, classes.processor)(image_processor=image_processor)
        if name in ("sam", "sam-hq"):
            set_official_decoder_eps(model)
        if name == "sam-hq":  # SAM-HQ answers a multimask prompt with its best mask (+ the HQ mask)
            use_official_decoder(model)
        dt = torch_dtype(dtype, device)
        return cls(spec, move(model, device, dt), processor, device, dt, family=family)

    # --- image encoder --------------------------------------------------------------------
    def embed(self, image: np.ndarray) -> Embedding:
        """The cached embedding of ``image`` (H x W x 3 uint8), computing it on a miss."""
        key = (self.spec.id, image_hash(image))
        return self.cache.get_or_compute(key, lambda: self._encode(image, key))

    def _encode(self, image: np.ndarray, key: tuple[str, str]) -> Embedding:
        import torch

        if self.family.scale_on_device:
            inputs = self.processor(images=image, return_tensors="pt", do_rescale=False, do_normalize=False,
                                    do_pad=False)
            pixels = scale_and_pad(inputs["pixel_values"].to(self.device), self.processor.image_processor)
        else:
            inputs = self.processor(images=image, return_tensors="pt")
            pixels = inputs["pixel_values"]
        pixels = pixels.to(self.device, self.dtype)
        sizes = inputs.get("reshaped_input_sizes")
        input_size = tuple(int(v) for v in sizes[0]) if sizes is not None else tuple(pixels.shape[-2:])
        with torch.inference_mode():
            features = self.family.embed(self.model, pixels)
        return Embedding(key, features, image.shape[:2], input_size, int(pixels.shape[-1]))

    # --- prompt encoder + mask decoder ----------------------------------------------------
    def decode(self, embedding: Embedding, points: np.ndarray | None = None, labels: np.ndarray | None = None,
               boxes: np.ndarray | None = None, mask_input: np.ndarray | None = None,
               multimask_output: bool = True) -> tuple[Any, Any]:
        """Run prompt encoder + mask decoder on a cached embedding.

        ``points`` (P, N, 2) image pixels with ``labels`` (P, N): P prompts of N points each;
        ``boxes`` (B, 4) xyxy pixels (with points, P == B); ``mask_input`` (256, 256) logits.
        Returns low-resolution logits (P, M, 256, 256) and predicted IoU (P, M), float32 on the device.
        """
        import torch

        kw: dict[str, Any] = {}
        if points is not None:
            kw["input_points"] = self._tensor(embedding.to_input(points)[None])
            kw["input_labels"] = torch.as_tensor(np.array(labels, np.int64)[None], device=self.device)
        if boxes is not None:
            kw["input_boxes"] = self._tensor(embedding.to_input(np.asarray(boxes).reshape(-1, 2, 2)).reshape(1, -1, 4))
        if mask_input is not None:
            kw["input_masks"] = self._tensor(np.asarray(mask_input, np.float32).reshape(1, 1, *mask_input.shape[-2:]))
        with torch.inference_mode():
            out = self.model(**embedding.features, **kw, multimask_output=multimask_output)
        return out.pred_masks[0].float(), out.iou_scores[0].float()

    @property
    def everything_defaults(self) -> dict[str, Any]:
        """Settings of segment everything whose official default differs for this family (see :class:`Family`)."""
        return dict(self.family.everything_defaults)

    def predict_points_batch(self, embedding: Embedding, points: np.ndarray,
                             min_iou: float | None = None) -> tuple[Any, Any]:
        """Many single-positive-point prompts in one decoder call: ``points`` (P, 2) image pixels -> the
        multimask outputs' low-resolution logits (K, 256, 256) and predicted IoU (K,), prompt by prompt, of those
        with predicted IoU above ``min_iou`` (all K = P x 3 with None). SAM runs
        :func:`~seglab.models.sam_points.decode_points`, which upscales only the prompts with an output kept."""
        import torch

        points = np.asarray(points, np.float32).reshape(-1, 1, 2)
        labels = np.ones(points.shape[:2], np.int64)
        if not self.family.point_decoder:
            logits, iou = self.decode(embedding, points, labels, multimask_output=True)
            logits, iou = logits.flatten(0, 1), iou.flatten()
            keep = iou > min_iou if min_iou is not None else torch.ones_like(iou, dtype=torch.bool)
            return logits[keep], iou[keep]
        from .sam_points import decode_points, image_side

        with torch.inference_mode():
            features = embedding.features["image_embeddings"]
            side = self._image_sides.get_or_compute(embedding.key, lambda: image_side(self.model, features))
            sparse, _ = self.model.prompt_encoder(
                input_points=self._tensor(embedding.to_input(points)[None]),
                input_labels=torch.as_tensor(labels[None], device=self.device), input_boxes=None, input_masks=None)
            logits, iou, _ = decode_points(self.model, side, sparse[0], min_iou)
        return logits.float(), iou.float()

    def upscale_logits(self, embedding: Embedding, logits: Any) -> Any:
        """Low-resolution logits (..., 256, 256) -> logits at the original image size (..., H, W), as the
        official ``postprocess_masks``: bilinear to the padded square input, crop the padding, bilinear to
        the image (SAM / SAM-HQ); SAM 2, whose input is the stretched image, goes straight to the image.
        The steps are linear and separable, so they run as two matrix products (:func:`resize_matrix`)."""
        (h, w), (ih, iw), side = embedding.original_size, embedding.input_size, embedding.pad_size
        n_y, n_x = logits.shape[-2:]
        steps = side if self.family.two_step_upscale else None
        rows = resize_matrix(n_y, steps, ih, h).to(logits.device, logits.dtype)
        cols = resize_matrix(n_x, steps, iw, w).to(logits.device, logits.dtype)
        return rows.T @ (logits @ cols)

    def region_to_mask_input(self, embedding: Embedding, region: np.ndarray) -> np.ndarray:
        """A rough H x W region as the 256 x 256 low-resolution mask input: resized like the image
        (longest side, then padded for SAM; stretched for SAM 2), as +/-``REGION_LOGIT`` logits."""
        import cv2

        low = 4 * self._embedding_side()
        (ih, iw), scale = embedding.input_size, low / embedding.pad_size
        rh, rw = max(1, round(ih * scale)), max(1, round(iw * scale))
        small = cv2.resize(region.astype(np.float32), (rw, rh), interpolation=cv2.INTER_AREA)
        out = np.full((low, low), -REGION_LOGIT, np.float32)
        out[:rh, :rw] = np.where(small >= 0.5, REGION_LOGIT, -REGION_LOGIT)
        return out

    def _embedding_side(self) -> int:
        size = self.model.prompt_encoder.image_embedding_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    def _tensor(self, a: np.ndarray) -> Any:
        import torch

        return torch.as_tensor(np.array(a, np.float32), device=self.device).to(self.dtype)

    # --- the public prompt -> Masks calls ---------------------------------------------------
    def segment(self, embedding: Embedding, prompt: Prompt, multimask_output: bool | None = None,
                mask_input: np.ndarray | None = None) -> Masks:
        """Masks for a validated prompt on an embedding, in prompt order (box i's masks first), not sorted.

        Every point applies to every box; with boxes, one mask per box (three with multimask).
        ``multimask_output`` defaults to True for one point with no box and no mask input.
        ``mask_input``: previous low-resolution logits (e.g. ``Masks.logits[0]``); else the
        prompt's region, if any, becomes the mask input.
        """
        n_boxes = 0 if prompt.boxes is None else len(prompt.boxes)
        n_points = 0 if prompt.points is None else len(prompt.points)
        if n_boxes == 0 and n_points == 0 and prompt.region is None and mask_input is None:
            raise InvalidPromptError(f"{self.spec.id} needs a point, a box or a region prompt")
        if mask_input is None and prompt.region is not None:
            mask_input = self.region_to_mask_input(embedding, prompt.region)
        elif mask_input is not None:
            mask_input = self._check_mask_input(mask_input)
        if multimask_output is None:
            multimask_output = n_points == 1 and n_boxes == 0 and mask_input is None
        points = labels = None
        if n_points:
            copies = max(n_boxes, 1)
            points = np.broadcast_to(prompt.points, (copies, n_points, 2))
            labels = np.broadcast_to(prompt.point_labels, (copies, n_points))
        logits, iou = self.decode(embedding, points, labels, prompt.boxes if n_boxes else None, mask_input,
                                  multimask_output)
        logits, iou = logits.reshape(-1, *logits.shape[-2:]), iou.reshape(-1)
        masks = self.upscale_logits(embedding, logits) > 0
        if self.family.logit_limit is not None:
            logits = logits.clamp(-self.family.logit_limit, self.family.logit_limit)
        return Masks(masks.cpu().numpy(), iou.cpu().numpy(), logits=logits.cpu().numpy())

    def predict(self, image: np.ndarray, prompt: Prompt, multimask_output: bool | None = None,
                mask_input: np.ndarray | None = None, level: str | None = None) -> Masks:
        """Masks for ``prompt`` on ``image`` (embedded once, then cached), best predicted IoU first. ``level``
        ('whole', 'part' or 'subpart', :mod:`seglab.levels`): one mask per prompt, that level of its multimask
        answer, in prompt order."""
        embedding = self.embed(image)
        if level is None:
            return self.segment(embedding, prompt, multimask_output, mask_input).sorted()
        masks = self.segment(embedding, prompt, True, mask_input)
        prompts = max(1, 0 if prompt.boxes is None else len(prompt.boxes))
        return pick_level(masks, level, len(masks) // prompts)

    def _check_mask_input(self, mask_input: np.ndarray) -> np.ndarray:
        a = np.asarray(mask_input, np.float32)
        side = 4 * self._embedding_side()
        if a.ndim == 3:
            a = a[0]
        if a.shape != (side, side):
            raise InvalidPromptError(
                f"mask_input must be the {side}x{side} low-resolution logits of a previous result, got {a.shape}")
        return a
