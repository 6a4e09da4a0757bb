"""The text route for SAMs without text prompts: an open-vocabulary detector turns the text into
boxes, and the boxes prompt SAM (Grounded-SAM style).

Registry rows of family ``text-sam`` name the SAM repo in ``weights`` and the detector repo in
``extra['detector']`` (``extra['detector_family']``: ``'grounding-dino'`` or ``'owlv2'``;
``extra['sam_family']``: the SAM family, ``'sam'`` by default). A local ``location`` is a folder holding
``location/detector`` and ``location/sam``, each a folder saved with ``save_pretrained`` (model + processor) or a
folder holding one official checkpoint: ``groundingdino_swint_ogc.pth`` (with the BERT tokenizer's files beside it,
else the detector repo's tokenizer from the Hub cache) and ``sam_vit_b_01ec64.pth`` / ``sam2.1_hiera_tiny.pt``
(converted by :mod:`seglab.checkpoints`).

Grounding DINO runs as the official ``groundingdino.util.inference.predict`` does, whichever way it was loaded
(IDEA-Research/GroundingDINO at 427aebd, as packaged in ``groundingdino-py`` 0.4.0): the caption lower-cased with
a trailing "."; the image resized by ``T.RandomResize([800], max_size=1333)`` (PIL bilinear), then ``ToTensor``
and ImageNet ``Normalize``; a detection per query whose highest token probability is above ``box_threshold``
(0.35, ``Model.predict_with_caption``'s default; text 0.25), scored by that probability and named by the tokens
above ``text_threshold``; boxes (cx, cy, w, h) scaled to the image, not clipped (Grounded-SAM prompts SAM with
them as they are). transformers hard-codes the special-token ids of bert-base-uncased
(``modeling_grounding_dino.py``, ``SPECIAL_TOKENS = [101, 102, 1012, 1029]``) where the official model asks its
tokenizer; the adapter sets them from its tokenizer.

Each detection becomes one mask. ``Masks.scores`` are the detector's box scores (SAM's
predicted IoU does not say whether the phrase is in the image, the detector's score does);
``Masks.labels`` index ``Masks.class_names``, the phrases found.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WeightsUnavailableError
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
# Grounding DINO: groundingdino/util/inference.py (Model.predict_with_caption's defaults, load_image's transform)
BOX_THRESHOLDS = {"grounding-dino": 0.35, "owlv2": 0.3}
TEXT_THRESHOLD = 0.25
SHORT_SIDE, LONG_SIDE = 800, 1333
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SPECIAL_TOKENS = ("[CLS]", "[SEP]", ".", "?")  # GroundingDINO.__init__: the sub-sentence separators
CHECKPOINT_SUFFIXES = (".pth", ".pt")
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "vocab.txt")


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


def grounding_caption(text: str) -> str:
    """The caption Grounding DINO reads (official ``preprocess_caption``): lower case, stripped, ending in '.'."""
    caption = text.lower().strip()
    return caption if caption.endswith(".") else caption + "."


def official_size(h: int, w: int, size: int = SHORT_SIDE, max_size: int = LONG_SIDE) -> tuple[int, int]:
    """(h, w) of ``T.RandomResize([size], max_size)``: short side ``size`` unless the long side would pass
    ``max_size``, the other side truncated (the official ``get_size_with_aspect_ratio``)."""
    short, long = min(h, w), max(h, w)
    if long / short * size > max_size:
        size = round(max_size * short / long)
    if short == size:
        return h, w
    return (int(size * h / w), size) if w < h else (size, int(size * w / h))


def grounding_pixels(image: np.ndarray) -> Any:
    """(1, 3, h, w) float32 pixel values of the official transform: PIL bilinear resize to :func:`official_size`,
    ``ToTensor``, ImageNet ``Normalize``."""
    import torchvision.transforms.functional as F
    from PIL import Image

    pil = Image.fromarray(image)
    resized = F.resize(pil, list(official_size(*image.shape[:2])))
    return F.normalize(F.to_tensor(resized), IMAGENET_MEAN, IMAGENET_STD)[None]


def local_weights(folder: Path) -> Path:
    """``folder`` (a ``save_pretrained`` folder), or the one official checkpoint file it holds."""
    if not folder.is_dir() or (folder / "config.json").is_file():
        return folder
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in CHECKPOINT_SUFFIXES)
    if len(files) > 1:
        raise WeightsUnavailableError(f"{folder} holds {len(files)} checkpoints ({', '.join(p.name for p in files)}); "
                                      f"keep one")
    return files[0] if files else folder


class TextSamPredictor:
    """Text prompt -> detector boxes -> SAM masks, as :class:`Masks` with phrase labels and detector scores."""

    text_threshold = TEXT_THRESHOLD
    max_detections = 50

    def __init__(self, spec: ModelSpec, detector: Any, processor: Any, sam: SamPredictor, device: str,
                 dtype: Any) -> None:
        self.spec = spec
        self.detector = detector
        self.processor = processor
        self.sam = sam
        self.family = spec.extra["detector_family"]
        self.box_threshold = BOX_THRESHOLDS[self.family]
        self.device = device
        self.dtype = dtype
        if self.family == "grounding-dino":  # the official model takes them from its tokenizer
            ids = processor.tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
            detector.model.special_tokens.copy_(detector.model.special_tokens.new_tensor(ids))

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> TextSamPredictor:
        """Detector and SAM from ``location/detector`` and ``location/sam`` (see the module's doc), or from their
        Hub repos."""
        import transformers

        family = spec.extra["detector_family"]
        model_name, processor_name = DETECTORS[family]
        if location is not None and not Path(location).is_dir():
            raise WeightsUnavailableError(f"{spec.id}: {location} is not a folder; the text route loads from a folder "
                                          f"holding detector/ and sam/")
        det_location = local_weights(Path(location) / "detector") if location is not None else None
        sam_location = local_weights(Path(location) / "sam") if location is not None else None
        repo = spec.extra["detector"]
        if det_location is not None and det_location.suffix.lower() in CHECKPOINT_SUFFIXES:
            from ..checkpoints import official_model

            detector = official_model(det_location, family)
            folder = det_location.parent
            has_tokenizer = any((folder / name).is_file() for name in TOKENIZER_FILES)
            tokenizer = hf_load(transformers.AutoTokenizer, spec, folder if has_tokenizer else None, repo=repo)
            processor = getattr(transformers, processor_name)(
                image_processor=transformers.GroundingDinoImageProcessor(), tokenizer=tokenizer)
        else:
            detector = hf_load(getattr(transformers, model_name), spec, det_location, repo=repo)
            processor = hf_load(getattr(transformers, processor_name), spec, det_location, repo=repo)
        sam = SamPredictor.load(spec, sam_location, device, dtype, family=spec.extra.get("sam_family", "sam"))
        dt = torch_dtype(dtype, device)
        return cls(spec, move(detector, device, dt), processor, sam, device, dt)

    def _grounding_dino(self, image: np.ndarray, text: str, box_threshold: float,
                        text_threshold: float) -> tuple[Any, Any, list[str]]:
        """(boxes xyxy pixels, scores, labels) as the official ``predict`` + ``box_convert`` give them, in query order."""
        import torch

        caption = grounding_caption(text)
        tokens = self.processor.tokenizer(caption, return_tensors="pt").to(self.device)
        pixels = grounding_pixels(image).to(self.device, self.dtype)
        with torch.inference_mode():
            outputs = self.detector(pixel_values=pixels, **tokens)
        probs = outputs.logits[0].float().sigmoid()  # (queries, max_text_len); -inf past the caption: 0
        scores = probs.max(dim=1).values
        keep = scores > box_threshold
        ids = tokens["input_ids"][0]
        labels = [self.processor.tokenizer.decode(ids[row[: len(ids)] > text_threshold].tolist()).replace(".", "")
                  for row in probs[keep]]
        h, w = image.shape[:2]
        cx, cy, bw, bh = (outputs.pred_boxes[0, keep].float() * torch.tensor([w, h, w, h], device=probs.device)).unbind(-1)
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=-1)
        return boxes, scores[keep], labels

    def _owlv2(self, image: np.ndarray, phrases: list[str], box_threshold: float) -> tuple[Any, Any, list[str]]:
        """(boxes xyxy pixels clipped to the image, scores, labels) of transformers' post-processing."""
        import torch

        h, w = image.shape[:2]
        inputs = self.processor(images=image, text=[phrases], return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            outputs = self.detector(**inputs)
        found = self.processor.post_process_grounded_object_detection(
            outputs, threshold=box_threshold, target_sizes=[(h, w)], text_labels=[phrases])[0]
        boxes = found["boxes"].float().reshape(-1, 4)
        boxes = torch.minimum(boxes.clamp(min=0), torch.tensor([w, h, w, h], device=boxes.device))
        # a box that collapsed to nothing after clipping cannot prompt SAM
        keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
        labels = [str(t) for t, k in zip(found["text_labels"], keep.tolist()) if k]
        return boxes[keep], found["scores"].float()[keep], labels

    def detect(self, image: np.ndarray, text: str, box_threshold: float | None = None,
               text_threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(boxes (N, 4) xyxy image pixels, scores (N,), phrases) of the detections above the thresholds,
        best first. ``text_threshold`` (Grounding DINO only) picks which words of the text name a box."""
        box_threshold = self.box_threshold if box_threshold is None else float(box_threshold)
        text_threshold = self.text_threshold if text_threshold is None else float(text_threshold)
        phrases = split_phrases(text)
        if self.family == "grounding-dino":
            found = self._grounding_dino(image, text, box_threshold, text_threshold)
        else:
            found = self._owlv2(image, phrases, box_threshold)
        boxes = found[0].cpu().numpy().astype(np.float32)
        scores = found[1].cpu().numpy()
        names = [match_phrase(t, phrases) for t in found[2]]
        keep = np.argsort(-scores, kind="stable")[: self.max_detections]
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
