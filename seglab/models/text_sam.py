"""The text route for SAMs without text prompts: an open-vocabulary detector turns the text into
boxes, and the boxes prompt SAM (Grounded-SAM style).

Registry rows of family ``text-sam`` name the SAM repo in ``weights`` and the detector repo in
``extra['detector']`` (``extra['detector_family']``: ``'grounding-dino'`` or ``'owlv2'``;
``extra['sam_family']``: the SAM family, ``'sam'`` by default). A local ``location`` holds
two folders saved with ``save_pretrained``: ``location/detector`` (model + processor) and
``location/sam`` (model + processor).

Each detection becomes one mask. ``Masks.scores`` are the detector's box scores (SAM's
predicted IoU does not say whether the phrase is in the image, the detector's score does);
``Masks.labels`` index ``Masks.class_names``, the phrases found.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..prompts import Prompt
from ..registry import ModelSpec
from ..results import Masks
from .base import hf_load, move, torch_dtype
from .sam import SamPredictor

# detector family -> (model class, processor class) in transformers
DETECTORS: dict[str, tuple[str, str]] = {
    "grounding-dino": ("GroundingDinoForObjectDetection", "GroundingDinoProcessor"),
    "owlv2": ("Owlv2ForObjectDetection", "Owlv2Processor"),
}


def split_phrases(text: str) -> list[str]:
    """'Cat. a dog, bird' -> ['cat', 'a dog', 'bird']: the phrases of a text prompt, lower case, in order."""
    phrases = [p.strip().lower() for p in re.split(r"[.,;\n]", text)]
    return list(dict.fromkeys(p for p in phrases if p))


def match_phrase(found: str, phrases: list[str]) -> str:
    """The user's phrase that a detector label names (the longest one it contains), else the label
    without special tokens and punctuation; Grounding DINO labels are the words above ``text_threshold``."""
    words = re.sub(r"\[[A-Za-z]+\]|[.,;]", " ", found).lower().split()
    text = " ".join(words)
    inside = [p for p in phrases if re.search(rf"\b{re.escape(p)}\b", text)]
    return max(inside, key=len) if inside else text or " ".join(phrases)


class TextSamPredictor:
    """Text prompt -> detector boxes -> SAM masks, as :class:`Masks` with phrase labels and detector scores."""

    box_threshold = 0.3
    text_threshold = 0.25
    max_detections = 50

    def __init__(self, spec: ModelSpec, detector: Any, processor: Any, sam: SamPredictor, device: str,
                 dtype: Any) -> None:
        self.spec = spec
        self.detector = detector
        self.processor = processor
        self.sam = sam
        self.family = spec.extra["detector_family"]
        self.device = device
        self.dtype = dtype

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> TextSamPredictor:
        """Detector and SAM from ``location/detector`` and ``location/sam``, or from their Hub repos."""
        import transformers

        model_name, processor_name = DETECTORS[spec.extra["detector_family"]]
        det_location = Path(location) / "detector" if location is not None else None
        sam_location = Path(location) / "sam" if location is not None else None
        repo = spec.extra["detector"]
        detector = hf_load(getattr(transformers, model_name), spec, det_location, repo=repo)
        processor = hf_load(getattr(transformers, processor_name), spec, det_location, repo=repo)
        sam = SamPredictor.load(spec, sam_location, device, dtype, family=spec.extra.get("sam_family", "sam"))
        dt = torch_dtype(dtype, device)
        return cls(spec, move(detector, device, dt), processor, sam, device, dt)

    def detect(self, image: np.ndarray, text: str, box_threshold: float | None = None,
               text_threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(boxes (N, 4) xyxy image pixels, scores (N,), phrases) of the detections above the thresholds,
        best first. ``text_threshold`` (Grounding DINO only) picks which words of the text name a box."""
        import torch

        box_threshold = self.box_threshold if box_threshold is None else float(box_threshold)
        text_threshold = self.text_threshold if text_threshold is None else float(text_threshold)
        phrases = split_phrases(text)
        h, w = image.shape[:2]
        query: Any = ". ".join(phrases) + "." if self.family == "grounding-dino" else [phrases]
        inputs = self.processor(images=image, text=query, return_tensors="pt").to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            outputs = self.detector(**inputs)
        if self.family == "grounding-dino":
            found = self.processor.post_process_grounded_object_detection(
                outputs, inputs["input_ids"], threshold=box_threshold, text_threshold=text_threshold,
                target_sizes=[(h, w)])[0]
        else:
            found = self.processor.post_process_grounded_object_detection(
                outputs, threshold=box_threshold, target_sizes=[(h, w)], text_labels=[phrases])[0]
        scores = found["scores"].float().cpu().numpy()
        boxes = found["boxes"].float().cpu().numpy().reshape(-1, 4)
        names = [match_phrase(str(t), phrases) for t in found["text_labels"]]
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        # a box that collapsed to nothing after clipping cannot prompt SAM
        keep = np.flatnonzero(((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1))
        keep = keep[np.argsort(-scores[keep], kind="stable")][: self.max_detections]
        return boxes[keep], scores[keep], [names[i] for i in keep]

    def predict(self, image: np.ndarray, prompt: Prompt, box_threshold: float | None = None,
                text_threshold: float | None = None, **_: Any) -> Masks:
        """Masks of every detection of ``prompt.text`` ("cat" or several phrases, "cat. dog."), best first.

        Nothing above ``box_threshold``: an empty :class:`Masks` whose ``note`` says so.
        """
        h, w = image.shape[:2]
        threshold = self.box_threshold if box_threshold is None else float(box_threshold)
        boxes, scores, names = self.detect(image, prompt.text or "", box_threshold, text_threshold)
        if len(boxes) == 0:
            return Masks.empty(h, w, note=f"no {prompt.text!r} found above score {threshold:.2f}; "
                                          f"lower the threshold or rephrase")
        class_names = dict(enumerate(dict.fromkeys(names)))
        ids = {name: i for i, name in class_names.items()}
        masks = self.sam.segment(self.sam.embed(image), Prompt(boxes=boxes), multimask_output=False)
        return Masks(masks.masks, scores, labels=[ids[n] for n in names], logits=masks.logits,
                     class_names=class_names)
