"""SAM 3 (transformers): native text (concept) prompts that return every instance, plus points and boxes.

The ``facebook/sam3`` checkpoint holds two models that share one ViT backbone:

- ``Sam3Model`` (the detector) answers a text prompt, "cat" or several phrases "cat. dog.",
  with all matching instances and their scores; boxes given with the text are visual
  examples of the concept (positive).
- ``Sam3TrackerModel`` (SAM 2-style prompt encoder + mask decoder) answers points and boxes
  without text with one object per box (three masks for a single click).

Both are loaded from the same folder or Hub repo and run on one backbone instance in memory.
Each image's encoder output is cached per ``(model id, image hash, branch)`` in a byte-bounded
:class:`~seglab.cache.LRUCache`, so repeated prompts on one image skip the encoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..cache import LRUCache
from ..errors import InvalidPromptError
from ..images import image_hash
from ..prompts import Prompt
from ..registry import ModelSpec
from ..results import Masks
from .base import hf_load, move, torch_dtype
from .text_sam import split_phrases

# the checkpoint stores the tracker under "tracker_model."; transformers' own renaming misses it
# for Sam3TrackerModel in some versions, so strip the prefix explicitly (a no-op where it works)
TRACKER_KEYS = {r"^tracker_model\.": ""}


class Sam3Predictor:
    """Text (+ example boxes) -> all instances; points / boxes -> one object each; as :class:`Masks`."""

    threshold = 0.5  # instance score (detection x presence) a text match must exceed
    mask_threshold = 0.5

    def __init__(self, spec: ModelSpec, model: Any, tracker: Any, processor: Any, tracker_processor: Any,
                 device: str, dtype: Any, cache: LRUCache | None = None) -> None:
        self.spec = spec
        self.model = model
        self.tracker = tracker
        self.processor = processor
        self.tracker_processor = tracker_processor
        self.device = device
        self.dtype = dtype
        self.cache = cache if cache is not None else LRUCache()

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> Sam3Predictor:
        from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel, Sam3TrackerProcessor

        processor = hf_load(Sam3Processor, spec, location)
        model = hf_load(Sam3Model, spec, location)
        tracker = hf_load(Sam3TrackerModel, spec, location, key_mapping=TRACKER_KEYS)
        tracker.vision_encoder.backbone = model.vision_encoder.backbone  # the same weights: keep one copy
        dt = torch_dtype(dtype, device)
        return cls(spec, move(model, device, dt), move(tracker, device, dt), processor,
                   Sam3TrackerProcessor(processor.image_processor), device, dt)

    # --- image encoder, cached ----------------------------------------------------------------
    def _pixels(self, image: np.ndarray) -> Any:
        return self.processor.image_processor(images=image, return_tensors="pt")["pixel_values"].to(
            self.device, self.dtype)

    def detector_features(self, image: np.ndarray) -> Any:
        """The detector's multi-scale vision features of ``image`` (cached)."""
        import torch
        from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

        def compute() -> Any:
            with torch.inference_mode():
                out = self.model.get_vision_features(pixel_values=self._pixels(image))
            return Sam3VisionEncoderOutput(fpn_hidden_states=out.fpn_hidden_states,
                                           fpn_position_encoding=out.fpn_position_encoding)

        return self.cache.get_or_compute((self.spec.id, image_hash(image), "detector"), compute)

    def tracker_features(self, image: np.ndarray) -> list[Any]:
        """The tracker's image embeddings of ``image`` (cached)."""
        import torch

        def compute() -> list[Any]:
            with torch.inference_mode():
                return self.tracker.get_image_embeddings(self._pixels(image))

        return self.cache.get_or_compute((self.spec.id, image_hash(image), "tracker"), compute)

    # --- prompts ------------------------------------------------------------------------------
    def predict(self, image: np.ndarray, prompt: Prompt, threshold: float | None = None,
                mask_threshold: float | None = None, multimask_output: bool | None = None, **_: Any) -> Masks:
        """Masks for a validated prompt, best first.

        Text: every instance scoring above ``threshold`` for each phrase (labels index the phrases),
        an empty result with a ``note`` when none does. No text: the tracker's masks for the points
        and boxes, scored by predicted IoU; ``multimask_output`` defaults to True for one lone click.
        """
        if prompt.text:
            if prompt.points is not None:
                raise InvalidPromptError("SAM 3 combines a text prompt with boxes (as examples), not with points")
            return self.segment_text(image, prompt.text, prompt.boxes, threshold, mask_threshold)
        if prompt.points is None and prompt.boxes is None:
            raise InvalidPromptError(f"{self.spec.id} needs a text, point or box prompt")
        return self.segment_points(image, prompt, multimask_output)

    def segment_text(self, image: np.ndarray, text: str, boxes: np.ndarray | None = None,
                     threshold: float | None = None, mask_threshold: float | None = None) -> Masks:
        """All instances of each phrase of ``text``; ``boxes`` (xyxy pixels) are positive examples."""
        import torch

        threshold = self.threshold if threshold is None else float(threshold)
        mask_threshold = self.mask_threshold if mask_threshold is None else float(mask_threshold)
        h, w = image.shape[:2]
        features = self.detector_features(image)
        phrases = split_phrases(text)
        masks, scores, labels = [], [], []
        for label, phrase in enumerate(phrases):
            kw: dict[str, Any] = {"original_sizes": [[h, w]]}
            if boxes is not None:
                kw["input_boxes"] = [np.asarray(boxes, np.float32).tolist()]
            inputs = self.processor(text=phrase, return_tensors="pt", **kw).to(self.device)
            if "input_boxes" in inputs:
                inputs["input_boxes"] = inputs["input_boxes"].to(self.dtype)
            inputs.pop("original_sizes", None)
            with torch.inference_mode():
                outputs = self.model(vision_embeds=features, **inputs)
            found = self.processor.post_process_instance_segmentation(
                outputs, threshold=threshold, mask_threshold=mask_threshold, target_sizes=[(h, w)])[0]
            masks.append(found["masks"].bool().cpu().numpy())
            scores.append(found["scores"].float().cpu().numpy())
            labels += [label] * len(found["scores"])
        class_names = dict(enumerate(phrases))
        if not labels:
            return Masks.empty(h, w, note=f"no {text!r} found above score {threshold:.2f}; "
                                          f"lower the threshold or rephrase", class_names=class_names)
        return Masks(np.concatenate(masks), np.concatenate(scores), labels=labels,
                     class_names=class_names).sorted()

    def segment_points(self, image: np.ndarray, prompt: Prompt, multimask_output: bool | None = None) -> Masks:
        """The tracker's masks: one object per box (every point applies to every box), or one for the points."""
        import torch

        h, w = image.shape[:2]
        n_boxes = 0 if prompt.boxes is None else len(prompt.boxes)
        n_points = 0 if prompt.points is None else len(prompt.points)
        if multimask_output is None:
            multimask_output = n_points == 1 and n_boxes == 0
        kw: dict[str, Any] = {}
        if n_points:
            copies = max(n_boxes, 1)
            kw["input_points"] = [[prompt.points.tolist()] * copies]
            kw["input_labels"] = [[prompt.point_labels.tolist()] * copies]
        if n_boxes:
            kw["input_boxes"] = [prompt.boxes.tolist()]
        inputs = self.tracker_processor(original_sizes=[[h, w]], return_tensors="pt", **kw).to(self.device)
        for name in ("input_points", "input_boxes"):
            if name in inputs:
                inputs[name] = inputs[name].to(self.dtype)
        inputs.pop("original_sizes", None)
        with torch.inference_mode():
            outputs = self.tracker(image_embeddings=self.tracker_features(image), multimask_output=multimask_output,
                                   **inputs)
        masks = self.tracker_processor.post_process_masks(outputs.pred_masks.float().cpu(), [[h, w]])[0]
        logits = outputs.pred_masks[0].float().cpu().numpy()
        return Masks(masks.reshape(-1, h, w).numpy(), outputs.iou_scores[0].float().cpu().numpy().reshape(-1),
                     logits=logits.reshape(-1, *logits.shape[-2:])).sorted()
