"""SAM 3 (transformers): native text (concept) prompts that return every instance, plus points and boxes.

The ``facebook/sam3`` checkpoint holds two models that share one ViT backbone:

- ``Sam3Model`` (the detector) answers a text prompt, "cat" or several phrases "cat. dog.",
  with all matching instances and their scores; boxes given with the text are visual
  examples of the concept (positive).
- ``Sam3TrackerModel`` (SAM 2-style prompt encoder + mask decoder) answers points and boxes
  without text with one object per box (three masks for a single click).

Both are loaded from the same folder or Hub repo, or from the official ``sam3.pt`` (converted by
:mod:`seglab.checkpoints.sam3`), and run on one backbone instance in memory. Whatever the weights' source,
they run as the official code (facebookresearch/sam3 at d0b1b9d, ``sam3==0.1.4``) does, where transformers differs
(:func:`use_official_settings`, and a text-only prompt in :meth:`Sam3Predictor.segment_text`).
Each image's encoder output is cached per ``(model id, image hash, branch)`` in a byte-bounded
:class:`~seglab.cache.LRUCache`, so repeated prompts on one image skip the encoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..cache import LRUCache
from ..errors import InvalidPromptError, WeightsUnavailableError
from ..images import image_hash
from ..prompts import Prompt
from ..registry import ModelSpec
from ..results import Masks
from .base import hf_load, move, torch_dtype
from .text_sam import split_phrases

# the checkpoint stores the tracker under "tracker_model."; transformers' own renaming misses it
# for Sam3TrackerModel in some versions, so strip the prefix explicitly (a no-op where it works)
TRACKER_KEYS = {r"^tracker_model\.": ""}
# the official ViT's LayerNorm eps (sam3/model/vitdet.py: norm_layer "LayerNorm" -> eps=1e-5); transformers'
# Sam3ViTConfig.layer_norm_eps defaults to 1e-6
VIT_LAYER_NORM_EPS = 1e-5
# the official tracker reads the neck levels at scales 4, 2, 1 (sam3/model/vl_combiner.py: SAM3VLBackbone(scalp=1)
# drops the 0.5 one) and adds no_mem_embed to the last of them (sam3/model/sam3_image.py: predict_inst)
TRACKER_LEVELS = 3
MAX_HOLE_AREA = 256  # the official SAM3InteractiveImagePredictor's max_hole_area (sam3/model/sam1_task_predictor.py)
TEXT_LENGTH = 32  # the official tokenizer's context length (sam3/model/text_encoder_ve.py)
PADDING_BOX = -10  # transformers' label of a padding box (modeling_sam3.py: box_mask = labels != -10)


def clip_tokenizer(path: str | Path | None = None) -> Any:
    """The CLIP tokenizer of the official BPE vocabulary (``path``, default :func:`seglab.checkpoints.sam3.bpe_path`), as the official
    ``SimpleTokenizer`` builds it: byte symbols, the same with ``</w>``, the 48894 merges, start and end tokens."""
    import gzip

    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    from ..checkpoints.sam3 import bpe_path

    with gzip.open(path or bpe_path(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    symbols = list(bytes_to_unicode().values())
    words = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab = {w: i for i, w in enumerate(words + ["<|startoftext|>", "<|endoftext|>"])}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=TEXT_LENGTH)


def local_processor() -> Any:
    """``Sam3Processor`` without the Hub: transformers' default image processor (1008 x 1008, mean = std = 0.5,
    as the official transform) and :func:`clip_tokenizer`."""
    from transformers import Sam3ImageProcessor, Sam3Processor

    return Sam3Processor(image_processor=Sam3ImageProcessor(), tokenizer=clip_tokenizer())


def official_instances(outputs: Any, threshold: float, mask_threshold: float,
                       size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(masks, scores) of the detector's queries scoring above ``threshold``, as the official ``Sam3Processor.
    _forward_grounding`` makes them: score = sigmoid(logit) x sigmoid(presence), mask = sigmoid of the mask *logits*
    resized bilinearly to ``size`` > ``mask_threshold``. (transformers' ``post_process_instance_segmentation``
    resizes the probabilities instead: image_processing_sam3.py, ``batch_masks = pred_masks.sigmoid()`` before
    ``interpolate``, which moves the mask edges.)"""
    import torch

    scores = (outputs.pred_logits.sigmoid() * outputs.presence_logits.sigmoid())[0].float()
    keep = scores > threshold
    logits = outputs.pred_masks[0][keep].float()
    if len(logits):
        logits = torch.nn.functional.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0]
    return (logits.sigmoid() > mask_threshold).cpu().numpy().reshape(-1, *size), scores[keep].cpu().numpy()


def fill_holes(logits: Any, max_area: int = MAX_HOLE_AREA) -> Any:
    """Low-resolution tracker logits with background holes (8-connected components of logits <= 0) of at most
    ``max_area`` pixels set to 10, as the official predictor does before resizing (sam3/model/utils/sam1_utils.py,
    ``SAM2Transforms.postprocess_masks``); transformers' ``post_process_masks`` ignores ``max_hole_area``."""
    import cv2
    import torch

    flat = logits.reshape(-1, *logits.shape[-2:]).clone()
    for mask in flat:
        _, labels, stats, _ = cv2.connectedComponentsWithStats((mask <= 0).numpy().astype(np.uint8), connectivity=8)
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] <= max_area)
        hole = np.isin(labels, small[small > 0])
        mask[torch.from_numpy(hole)] = 10.0
    return flat.reshape(logits.shape)


def use_official_settings(model: Any, tracker: Any) -> None:
    """Make transformers' SAM 3 compute what the official code does, for any weights (in place):

    - the ViT's LayerNorms use the official eps :data:`VIT_LAYER_NORM_EPS`;
    - the tracker's neck keeps the official :data:`TRACKER_LEVELS` levels, so that ``Sam3TrackerModel.
      get_image_embeddings`` adds ``no_memory_embedding`` to the 1x level, as the official ``predict_inst``
      (transformers/models/sam3_tracker/modeling_sam3_tracker.py, ``get_image_embeddings``: ``feature_maps[-1] +
      self.no_memory_embedding``; with four levels that is the unused 0.5x one).
    """
    import torch

    for module in model.vision_encoder.backbone.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.eps = VIT_LAYER_NORM_EPS
    model.config.vision_config.backbone_config.layer_norm_eps = VIT_LAYER_NORM_EPS
    neck = tracker.vision_encoder.neck
    if len(neck.fpn_layers) > TRACKER_LEVELS:
        neck.fpn_layers = neck.fpn_layers[:TRACKER_LEVELS]
        tracker.config.vision_config.scale_factors = tracker.config.vision_config.scale_factors[:TRACKER_LEVELS]


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
        """Detector, tracker and processor from ``location`` (a ``save_pretrained`` folder, or the official
        ``sam3.pt``) or the Hub repo ``spec.weights``, set to the official behaviour (:func:`use_official_settings`)."""
        from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel, Sam3TrackerProcessor

        from ..checkpoints import is_official_checkpoint, load_official

        if is_official_checkpoint(location):
            pair, processor = load_official(location, "sam3")
            model, tracker = pair["detector"], pair["tracker"]
        else:
            processor = hf_load(Sam3Processor, spec, location)
            model = hf_load(Sam3Model, spec, location)
            tracker = hf_load(Sam3TrackerModel, spec, location, key_mapping=TRACKER_KEYS)
        use_official_settings(model, tracker)
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
        """All instances of each phrase of ``text``; ``boxes`` (xyxy pixels) are positive examples.

        Without boxes the official model still appends the geometry encoder's CLS token to the prompt
        (sam3/model/geometry_encoders.py, ``add_cls=True``), whereas transformers' ``Sam3Model.forward`` skips the
        geometry encoder when no box is given (``has_geometry_prompts``); one padding box (label
        :data:`PADDING_BOX`, masked out everywhere) makes it run on none, as the official code.
        """
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
            else:  # the official model runs the geometry encoder on no box: only its CLS token joins the prompt
                kw.update(input_boxes=[[[0.0, 0.0, float(w), float(h)]]], input_boxes_labels=[[PADDING_BOX]])
            inputs = self.processor(text=phrase, return_tensors="pt", **kw).to(self.device)
            if "input_boxes" in inputs:
                inputs["input_boxes"] = inputs["input_boxes"].to(self.dtype)
            inputs.pop("original_sizes", None)
            with torch.inference_mode():
                outputs = self.model(vision_embeds=features, **inputs)
            found, found_scores = official_instances(outputs, threshold, mask_threshold, (h, w))
            masks.append(found)
            scores.append(found_scores)
            labels += [label] * len(found_scores)
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
        low_res = fill_holes(outputs.pred_masks.float().cpu())
        masks = self.tracker_processor.post_process_masks(low_res, [[h, w]])[0]
        logits = outputs.pred_masks[0].float().cpu().numpy()
        return Masks(masks.reshape(-1, h, w).numpy(), outputs.iou_scores[0].float().cpu().numpy().reshape(-1),
                     logits=logits.reshape(-1, *logits.shape[-2:])).sorted()
