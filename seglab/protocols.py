"""Test protocols, as data: how a published number was measured (resize, inference, thresholds, scoring).

A registry entry names the protocol its adapter runs (``ModelSpec.protocol``) and each published number
names the protocol it was measured under (``Published.protocol``). Adapters apply their protocol whatever a
downloaded processor file says, so ``seglab.predict``, the app and the benchmark see what the authors' test
code saw; the benchmark writes the protocol id into every result row, and the report pairs a reproduced
number with a published one only where data set and protocol are the same.

Each value is copied from an official file named in ``source`` (repository, path); ``tests/data`` holds
those values with their commits and ``tests/test_protocols.py`` checks this table against them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from .errors import UnknownModelError

Resize = Literal["shortest-edge", "keep-ratio", "fixed", "lower-bound", "weights-transforms", "model", "none"]


@dataclass(frozen=True, kw_only=True)
class Protocol:
    """One test protocol.

    ``resize``: ``shortest-edge`` (detectron2's ``ResizeShortestEdge``: short side ``size[0]``, long side at most
    ``size[1]``, aspect kept), ``keep-ratio`` (mmseg's ``Resize(scale=(long, short), keep_ratio=True)``: the
    largest scale that fits ``size`` = (long, short)), ``fixed`` (stretched to ``size`` = (h, w)), ``lower-bound``
    (Depth Anything's: the smallest scale with both sides at least ``size``, each a multiple of ``size_divisor``),
    ``weights-transforms`` (torchvision's ``weights.transforms()``), ``model`` (the network resizes inside, e.g.
    Mask R-CNN's ``GeneralizedRCNNTransform``) or ``none``.
    ``size_divisor``: the resized image is padded (detectron2) or its size rounded (SegFormer's
    ``AlignedResize``) to a multiple of it. ``inference``: ``whole`` image, or ``slide`` windows of ``crop``
    (h, w) every ``stride`` (h, w), logits averaged where windows overlap.
    """

    id: str
    dataset: str  # the registry data set name of numbers measured under it ("coco-val2017", ...)
    task: str
    resize: Resize
    size: tuple[int, int] | None = None
    size_divisor: int = 0
    inference: Literal["whole", "slide"] = "whole"
    crop: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    object_mask_threshold: float | None = None  # panoptic: queries scoring less are dropped
    overlap_threshold: float | None = None  # panoptic: kept area / own area below this drops a segment
    top_k: int | None = None  # instance: detections kept per image (over queries x classes)
    score: str = ""  # how a detection's score is formed
    metric: str = ""  # which variant of the metric
    prompts: str = ""  # promptable: where the prompts come from
    scored_at: Literal["original", "resized"] = "original"  # the resolution the metric compares at
    source: str = ""  # the official file(s) the values come from

    def inferences(self) -> frozenset[str]:
        """What a detectron2 config runs besides its task (SEMANTIC_ON / INSTANCE_ON / PANOPTIC_ON): panoptic
        inference where it has the panoptic thresholds, instance inference where it keeps ``top_k`` detections.
        With either on, Mask2Former enlarges masks to the image before semantic inference, and with panoptic on
        instance inference keeps thing classes only."""
        on = {self.task}
        if self.object_mask_threshold is not None:
            on.add("panoptic")
        if self.top_k is not None:
            on.add("instance")
        return frozenset(on)

    def describe(self) -> str:
        """One line for tables and the app: "shortest edge 800, long side <= 1333; whole image"."""
        parts = []
        if self.resize == "shortest-edge" and self.size:
            parts.append(f"short side {self.size[0]}, long side <= {self.size[1]}, aspect kept")
        elif self.resize == "keep-ratio" and self.size:
            parts.append(f"resized to fit {self.size[0]} x {self.size[1]}, aspect kept")
        elif self.resize == "fixed" and self.size:
            parts.append(f"stretched to {self.size[0]} x {self.size[1]}")
        elif self.resize == "lower-bound" and self.size:
            parts.append(f"both sides at least {self.size[0]}, multiples of {self.size_divisor}, aspect kept")
        elif self.resize == "weights-transforms":
            parts.append("the weights' own transforms")
        elif self.resize == "model":
            parts.append("the network's own resize")
        if self.inference == "slide" and self.crop and self.stride:
            parts.append(f"sliding {self.crop[0]}x{self.crop[1]} windows, stride {self.stride[0]}")
        if self.object_mask_threshold is not None:
            parts.append(f"object mask threshold {self.object_mask_threshold:g}, overlap {self.overlap_threshold:g}")
        if self.top_k:
            parts.append(f"top {self.top_k} detections")
        if self.prompts:
            parts.append(self.prompts)
        if self.scored_at == "resized":
            parts.append("scored at the resized size")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


D2_DEFAULTS = "facebookresearch/detectron2 detectron2/config/defaults.py"
M2F = "facebookresearch/Mask2Former configs/"
ONEFORMER = "SHI-Labs/OneFormer configs/"
SEGFORMER = "NVlabs/SegFormer local_configs/segformer/"
M2F_SCORE = "class probability x mean mask probability inside the mask"


def _m2f(id: str, dataset: str, task: str, size: tuple[int, int], source: str, **kw: Any) -> Protocol:
    """A Mask2Former / OneFormer protocol: detectron2's test resize, padded to 32, whole image."""
    if task == "panoptic":
        kw = {"object_mask_threshold": 0.8, "overlap_threshold": 0.8, **kw}
    if task == "instance":
        kw = {"top_k": 100, "score": M2F_SCORE, **kw}
    return Protocol(id=id, dataset=dataset, task=task, resize="shortest-edge", size=size, size_divisor=32,
                    source=source, **kw)


PROTOCOLS: tuple[Protocol, ...] = (
    # --- Mask2Former (detectron2 test code, single scale, no flip) --------------------------------------
    # configs/<data set>/<task>-segmentation/: Base-*.yaml <- maskformer2_R50_*.yaml <- swin/<the weights' file>;
    # with INSTANCE_ON, instance inference keeps TEST.DETECTIONS_PER_IMAGE (top_k); with PANOPTIC_ON, the
    # panoptic thresholds apply (tests/data/maskformer_test_protocols.json)
    _m2f("mask2former-coco-panoptic", "coco-val2017", "panoptic", (800, 1333),
         M2F + "coco/panoptic-segmentation/Base-COCO-PanopticSegmentation.yaml, maskformer2_R50_bs16_50ep.yaml, "
         "swin/maskformer2_swin_{tiny,small}_bs16_50ep.yaml, swin/maskformer2_swin_base_384_bs16_50ep.yaml, "
         "swin/maskformer2_swin_large_IN21k_384_bs16_100ep.yaml", top_k=100),
    _m2f("mask2former-coco-panoptic-semantic", "coco-val2017", "semantic", (800, 1333),
         M2F + "coco/panoptic-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_100ep.yaml "
         "(SEMANTIC_ON of the panoptic model)", object_mask_threshold=0.8, overlap_threshold=0.8, top_k=100),
    _m2f("mask2former-coco-instance", "coco-val2017", "instance", (800, 1333),
         M2F + "coco/instance-segmentation/Base-COCO-InstanceSegmentation.yaml, maskformer2_R50_bs16_50ep.yaml, "
         "swin/maskformer2_swin_tiny_bs16_50ep.yaml, swin/maskformer2_swin_large_IN21k_384_bs16_100ep.yaml"),
    _m2f("mask2former-ade-semantic-512", "ade20k-val", "semantic", (512, 2048),
         M2F + "ade20k/semantic-segmentation/Base-ADE20K-SemanticSegmentation.yaml, maskformer2_R50_bs16_160k.yaml, "
         "swin/maskformer2_swin_tiny_bs16_160k.yaml"),
    _m2f("mask2former-ade-semantic-640", "ade20k-val", "semantic", (640, 2560),
         M2F + "ade20k/semantic-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_160k_res640.yaml"),
    _m2f("mask2former-cityscapes-semantic", "cityscapes-val", "semantic", (1024, 2048),
         M2F + "cityscapes/semantic-segmentation/Base-Cityscapes-SemanticSegmentation.yaml, "
         "maskformer2_R50_bs16_90k.yaml, swin/maskformer2_swin_tiny_bs16_90k.yaml, "
         "swin/maskformer2_swin_large_IN21k_384_bs16_90k.yaml"),
    _m2f("mask2former-cityscapes-panoptic", "cityscapes-val", "panoptic", (1024, 2048),
         M2F + "cityscapes/panoptic-segmentation/Base-Cityscapes-PanopticSegmentation.yaml, "
         "maskformer2_R50_bs16_90k.yaml, swin/maskformer2_swin_large_IN21k_384_bs16_90k.yaml", top_k=100),
    _m2f("mask2former-cityscapes-panoptic-semantic", "cityscapes-val", "semantic", (1024, 2048),
         M2F + "cityscapes/panoptic-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_90k.yaml "
         "(SEMANTIC_ON of the panoptic model)", object_mask_threshold=0.8, overlap_threshold=0.8, top_k=100),
    _m2f("mask2former-vistas-semantic", "mapillary-vistas-val", "semantic", (2048, 2048),
         M2F + "mapillary-vistas/semantic-segmentation/Base-MapillaryVistas-SemanticSegmentation.yaml, "
         "maskformer2_R50_bs16_300k.yaml, swin/maskformer2_swin_large_IN21k_384_bs16_300k.yaml"),
    # --- OneFormer (detectron2 test code; task token from the spec; every config runs all three inferences) --
    _m2f("oneformer-coco-panoptic", "coco-val2017", "panoptic", (800, 1333),
         ONEFORMER + "coco/Base-COCO-UnifiedSegmentation.yaml, oneformer_R50_bs16_50ep.yaml, "
         "swin/oneformer_swin_large_bs16_100ep.yaml", top_k=150),
    _m2f("oneformer-ade-panoptic", "ade20k-val", "panoptic", (512, 2048),
         ONEFORMER + "ade20k/Base-ADE20K-UnifiedSegmentation.yaml, oneformer_R50_bs16_160k.yaml, "
         "swin/oneformer_swin_tiny_bs16_160k.yaml", object_mask_threshold=0.5, top_k=150),
    _m2f("oneformer-cityscapes-panoptic", "cityscapes-val", "panoptic", (1024, 2048),
         ONEFORMER + "cityscapes/Base-Cityscapes-UnifiedSegmentation.yaml, oneformer_R50_bs16_90k.yaml, "
         "swin/oneformer_swin_large_bs16_90k.yaml", top_k=250),
    _m2f("oneformer-cityscapes-semantic", "cityscapes-val", "semantic", (1024, 2048),
         ONEFORMER + "cityscapes/swin/oneformer_swin_large_bs16_90k.yaml (task token: semantic)",
         object_mask_threshold=0.8, overlap_threshold=0.8, top_k=250),
    # --- SegFormer (mmseg test pipeline of the official configs) --------------------------------------
    Protocol(id="segformer-ade-512", dataset="ade20k-val", task="semantic", resize="keep-ratio", size=(2048, 512),
             size_divisor=32, source=SEGFORMER + "B0/segformer.b0.512x512.ade.160k.py, "
                                                 "_base_/datasets/ade20k_repeat.py (AlignedResize, whole)"),
    Protocol(id="segformer-ade-640", dataset="ade20k-val", task="semantic", resize="keep-ratio", size=(2048, 640),
             size_divisor=32, source=SEGFORMER + "B5/segformer.b5.640x640.ade.160k.py (AlignedResize, whole)"),
    Protocol(id="segformer-cityscapes-slide", dataset="cityscapes-val", task="semantic", resize="keep-ratio",
             size=(2048, 1024), inference="slide", crop=(1024, 1024), stride=(768, 768),
             source=SEGFORMER + "B0/segformer.b0.1024x1024.city.160k.py, B5/segformer.b5.1024x1024.city.160k.py, "
                                "_base_/datasets/cityscapes_1024x1024_repeat.py (Resize keep_ratio, slide)"),
    # --- torchvision -----------------------------------------------------------------------------------
    Protocol(id="torchvision-voc-520", dataset="coco-val2017-voc", task="semantic", resize="weights-transforms",
             size=(520, 520), scored_at="resized",
             source="pytorch/vision references/segmentation/train.py and presets.py (SegmentationPresetEval, "
                    "base_size 520; target resized nearest to the same size)"),
    Protocol(id="torchvision-coco-maskrcnn", dataset="coco-val2017", task="instance", resize="model",
             size=(800, 1333), top_k=100, score="box score (box_score_thresh 0.05)",
             source="pytorch/vision torchvision/models/detection/mask_rcnn.py (MaskRCNN defaults), "
                    "references/detection/train.py"),
    # --- part segmentation ------------------------------------------------------------------------------
    Protocol(id="celebamask-hq-512", dataset="celebamask-hq-test", task="part", resize="fixed", size=(512, 512),
             metric="mIoU and mean F1 of the 18 face parts over the test split, at the annotations' 512 x 512",
             source="switchablenorms/CelebAMask-HQ face_parsing/tester.py (imsize 512), "
                    "Data_preprocessing/g_mask.py (labels), g_partition.py (test split)"),
    Protocol(id="atr-512", dataset="atr", task="part", resize="fixed", size=(512, 512),
             metric="mIoU over ATR's 18 labels",
             source="the 512 x 512 SegformerImageProcessor of mattmdjaga/segformer_b2_clothes (its model card)"),
    # --- promptable (the benchmark's prompts, class-agnostic unless said) ----------------------------
    Protocol(id="coco-gt-boxes", dataset="coco-val2017", task="promptable", resize="model",
             prompts="one ground-truth box per non-crowd instance", score="the model's predicted IoU",
             metric="class-agnostic AR@100 and mIoU"),
    Protocol(id="coco-gt-center-points", dataset="coco-val2017", task="promptable", resize="model",
             prompts="one centre point per non-crowd instance", score="the model's predicted IoU",
             metric="class-agnostic AR@100 and mIoU"),
    Protocol(id="coco-everything", dataset="coco-val2017", task="promptable", resize="model",
             prompts="segment everything (point grid)", score="the model's predicted IoU",
             metric="class-agnostic AR@100"),
    Protocol(id="coco-detection-boxes", dataset="coco-val2017", task="promptable", resize="model",
             prompts="a detector's boxes (--prompt-boxes), category and score carried over",
             score="the detector's score", metric="class-aware COCO mask AP",
             source="Kirillov et al., Segment Anything (arXiv 2304.02643), 7.4 and appendix D.4 (zero-shot "
                    "instance segmentation)"),
    Protocol(id="coco-vitdet-h-boxes", dataset="coco-val2017", task="promptable", resize="model",
             prompts="ViTDet-H's boxes (--prompt-boxes with its COCO results file), one refinement pass",
             score="the detector's score", metric="class-aware COCO mask AP",
             source="Kirillov et al., Segment Anything (arXiv 2304.02643), 7.4, appendix D.4 and Table 5"),
    Protocol(id="coco-gt-clicks", dataset="coco-val2017", task="interactive", resize="model",
             prompts="simulated clicks, each on the centre of the largest error", metric="mIoU after k clicks"),
    # --- depth: each model's own processor, scored after the metric's alignment -----------------------
    Protocol(id="depth-native", dataset="nyu-depth-v2", task="depth", resize="model",
             metric="delta1 / AbsRel / RMSE over valid pixels; relative models aligned per image (least-squares "
                    "scale and shift in inverse depth)"),
    Protocol(id="depth-anything-518", dataset="nyu-depth-v2", task="depth", resize="lower-bound", size=(518, 518),
             size_divisor=14, score="output enlarged bilinearly (align_corners) to the image",
             metric="delta1 / AbsRel / RMSE over valid pixels; relative models aligned per image (least-squares "
                    "scale and shift in inverse depth)",
             source="DepthAnything/Depth-Anything-V2 depth_anything_v2/dpt.py image2tensor / infer_image "
                    "(Resize 518, keep_aspect_ratio, ensure_multiple_of 14, lower_bound, cv2 bicubic)"),
)

_BY_ID = {p.id: p for p in PROTOCOLS}
assert len(_BY_ID) == len(PROTOCOLS), "duplicate protocol ids"


def get_protocol(protocol_id: str) -> Protocol:
    """The protocol named ``protocol_id``; :class:`UnknownModelError` lists the known ones otherwise."""
    try:
        return _BY_ID[protocol_id]
    except KeyError:
        raise UnknownModelError(f"unknown protocol {protocol_id!r}; known: {', '.join(_BY_ID)}") from None


def list_protocols(task: str | None = None) -> list[Protocol]:
    return [p for p in PROTOCOLS if task is None or p.task == task]
