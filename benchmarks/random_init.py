"""Registry models with their real architecture and random weights, saved where ``seglab.load_model(location=)``
reads them: for latency and memory without downloading weights (accuracy is meaningless).

torchvision families: the builder with ``weights=None`` (same layers and class count), saved as a state dict.
Hugging Face families: the model built from its transformers config class at the sizes of the registry
entry's ``backbone``, with its label set's classes and the config options in its ``extra``, and the
processor, saved with ``save_pretrained``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.tasks import BenchmarkInputError
from seglab import ModelSpec
from seglab.datasets import get_label_set

# Sizes by the registry entry's ``backbone``:
# SAM image encoders: (hidden size, layers, heads, global attention layers), from the SAM paper
SAM_VIT = {"ViT-B": (768, 12, 12, [2, 5, 8, 11]), "ViT-L": (1024, 24, 16, [5, 11, 17, 23]),
           "ViT-H": (1280, 32, 16, [7, 15, 23, 31])}
# Mask2Former Swin backbones: (embed dim, depths, heads)
SWIN = {"Swin-T": (96, [2, 2, 6, 2], [3, 6, 12, 24]), "Swin-S": (96, [2, 2, 18, 2], [3, 6, 12, 24]),
        "Swin-B": (128, [2, 2, 18, 2], [4, 8, 16, 32]), "Swin-L": (192, [2, 2, 18, 2], [6, 12, 24, 48])}
# Depth Anything V2: (DINOv2 hidden size, layers, heads, stages read, neck sizes, fusion size)
DEPTH_ANYTHING = {"ViT-S": (384, 12, 6, [3, 6, 9, 12], [48, 96, 192, 384], 64),
                  "ViT-L": (1024, 24, 16, [5, 12, 18, 24], [256, 512, 1024, 1024], 256)}


def save_random_weights(spec: ModelSpec, folder: Path) -> Path:
    """Build ``spec``'s architecture with random weights under ``folder``; returns the ``location`` to load."""
    import torch

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    if spec.source == "torchvision":
        return _torchvision(spec, folder)
    builders = {"sam": _sam, "sam-hq": _sam, "sam2": _sam2, "mask2former": _mask2former, "segformer": _segformer,
                "depth-anything": _depth_anything}
    if spec.family not in builders:
        raise BenchmarkInputError(f"--random-init is not available for {spec.id} (family {spec.family}); "
                                  f"it is for torchvision, {', '.join(builders)} models")
    model, processor = builders[spec.family](spec)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _size(spec: ModelSpec, table: dict[str, Any]) -> Any:
    """The architecture sizes of ``spec.backbone`` in ``table``."""
    if spec.backbone not in table:
        raise BenchmarkInputError(f"--random-init builds {spec.family} {' / '.join(table)} only, "
                                  f"not {spec.id} ({spec.backbone or 'backbone not recorded'})")
    return table[spec.backbone]


def _torchvision(spec: ModelSpec, folder: Path) -> Path:
    import torch
    from torchvision.models import get_model

    classes = get_label_set(spec.labels).num_outputs
    model = get_model(spec.weights, weights=None, weights_backbone=None, num_classes=classes)
    path = folder / "model.pt"
    torch.save(model.state_dict(), path)
    return path


def _sam(spec: ModelSpec) -> tuple[Any, Any]:
    """SAM or SAM-HQ (family ``sam-hq``) with the checkpoint's ViT size."""
    import transformers

    prefix = "SamHQ" if spec.family == "sam-hq" else "Sam"
    hidden, layers, heads, global_attn = _size(spec, SAM_VIT)
    # the vision config's default initializer_range is 1e-10 (real weights replace them): such weights make
    # activations denormal and the encoder over 10x slower on CPU, so they get the usual 0.02
    vision = getattr(transformers, f"{prefix}VisionConfig")(hidden_size=hidden, num_hidden_layers=layers,
                                                            num_attention_heads=heads, global_attn_indexes=global_attn,
                                                            initializer_range=0.02)
    config = getattr(transformers, f"{prefix}Config")(vision_config=vision.to_dict())
    processor = getattr(transformers, f"{prefix}Processor")(transformers.SamImageProcessor())
    return getattr(transformers, f"{prefix}Model")(config), processor


def _sam2(spec: ModelSpec) -> tuple[Any, Any]:
    from transformers import Sam2Config, Sam2ImageProcessor, Sam2Model, Sam2Processor

    _size(spec, {"Hiera-T": None})  # Sam2Config()'s defaults are the Hiera-T layout
    return Sam2Model(Sam2Config()), Sam2Processor(Sam2ImageProcessor())


def _labels(spec: ModelSpec) -> dict[int, str]:
    """The class names of the entry's label set, by contiguous id (the checkpoint's ``id2label``)."""
    return dict(enumerate(get_label_set(spec.labels).names))


def _mask2former(spec: ModelSpec) -> tuple[Any, Any]:
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    dim, depths, heads = _size(spec, SWIN)
    backbone = SwinConfig(embed_dim=dim, depths=depths, num_heads=heads, window_size=12 if dim > 96 else 7,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
    labels = _labels(spec)
    config = Mask2FormerConfig(backbone_config=backbone, id2label=labels, label2id={v: k for k, v in labels.items()})
    # the Hub checkpoints' processor resizes to 384 x 384 (transformers' integration test of
    # facebook/mask2former-swin-small-coco-instance, tests/models/mask2former/test_modeling_mask2former.py, expects
    # pixel_values 1 x 3 x 384 x 384 for a 480 x 640 COCO image); its other values are transformers' defaults.
    # The adapter runs the entry's protocol whatever this file says; saving the Hub's size keeps that tested.
    return Mask2FormerForUniversalSegmentation(config), Mask2FormerImageProcessor(size={"height": 384, "width": 384})


def _segformer(spec: ModelSpec) -> tuple[Any, Any]:
    """MiT-B0 with its Hub repo's processor settings rather than transformers' defaults: the square its name ends
    with (``nvidia/segformer-b0-finetuned-ade-512-512``'s file says 512 x 512) and ``do_reduce_labels`` for ADE20K
    (that file says true). The adapter resizes by its protocol whatever they say."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    _size(spec, {"MiT-B0": None})  # SegformerConfig()'s defaults are the B0 sizes
    labels = _labels(spec)
    config = SegformerConfig(id2label=labels, label2id={v: k for k, v in labels.items()})
    side = int(spec.weights.rsplit("-", 1)[-1])  # the repo's name ends with its processor's square size
    processor = SegformerImageProcessor(size={"height": side, "width": side},
                                        do_reduce_labels=get_label_set(spec.labels).dataset == "ade20k")
    return SegformerForSemanticSegmentation(config), processor


def _depth_anything(spec: ModelSpec) -> tuple[Any, Any]:
    """The processor is the Hub's ``preprocessor_config.json`` (518 x 518, keep_aspect_ratio, multiple of 14,
    bicubic, ImageNet mean / std), as :mod:`seglab.checkpoints.depth_anything` builds it for official checkpoints;
    the adapter runs the official resize whatever it says."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    from seglab.checkpoints.depth_anything import processor

    hidden, layers, heads, stages, neck, fusion = _size(spec, DEPTH_ANYTHING)
    backbone = Dinov2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, image_size=518,
                            out_features=[f"stage{i}" for i in stages], reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=hidden, neck_hidden_sizes=neck,
                                 fusion_hidden_size=fusion, **spec.extra)  # the metric entry's type and range
    return DepthAnythingForDepthEstimation(config), processor()
