"""Official Depth Anything V2 checkpoints (``depth_anything_v2_vits.pth``, ...) in the layout of transformers'
``DepthAnythingForDepthEstimation``.

The official file is the bare state dict of ``depth_anything_v2.dpt.DepthAnythingV2`` (DINOv2 ``pretrained`` +
DPT ``depth_head``). The key table is transformers' conversion script as data (huggingface/transformers
``src/transformers/models/depth_anything/convert_depth_anything_to_hf.py``, ``create_rename_keys`` and
``read_in_q_k_v``, commit 23925e160765f64e73942fe794d73a753c4b5732), with the attention names of transformers 5
(``attention.attention.query`` -> ``attention.q_proj``, ``attention.output.dense`` -> ``attention.o_proj``: the
``Dinov2Model`` renames of transformers 5.24's ``conversion_mapping.py``). The ViT width, depth, neck and fusion sizes
are read from the tensors; heads and the blocks the head reads cannot be, so they come from :data:`VARIANTS`.
A metric checkpoint (``depth_anything_v2_metric_hypersim_vits.pth``) has the same keys: its sigmoid head and
range come from the registry entry (``config`` of :func:`empty_model`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# ViT width -> (heads, the 1-based blocks whose outputs the DPT head reads), from the official
# depth_anything_v2/dinov2.py (vit_small/base/large: num_heads) and dpt.py (intermediate_layer_idx, 0-based),
# DepthAnything/Depth-Anything-V2 commit a561b849ebae10a6f5ef49e26c83cbbcd36c71bf. ViT-G (SwiGLU FFN) is not
# converted by transformers either.
VARIANTS: dict[int, tuple[str, int, list[int]]] = {
    384: ("vits", 6, [3, 6, 9, 12]),
    768: ("vitb", 12, [3, 6, 9, 12]),
    1024: ("vitl", 16, [5, 12, 18, 24]),
}

# (official pattern, transformers replacement), applied in order; the first that matches wins.
RENAMES: list[tuple[str, str]] = [
    (r"^pretrained\.cls_token$", "backbone.embeddings.cls_token"),
    (r"^pretrained\.mask_token$", "backbone.embeddings.mask_token"),
    (r"^pretrained\.pos_embed$", "backbone.embeddings.position_embeddings"),
    (r"^pretrained\.patch_embed\.proj\.", "backbone.embeddings.patch_embeddings.projection."),
    (r"^pretrained\.blocks\.(\d+)\.ls(\d)\.gamma$", r"backbone.encoder.layer.\1.layer_scale\2.lambda1"),
    (r"^pretrained\.blocks\.(\d+)\.(norm\d|mlp\.fc\d)\.", r"backbone.encoder.layer.\1.\2."),
    (r"^pretrained\.blocks\.(\d+)\.attn\.proj\.", r"backbone.encoder.layer.\1.attention.o_proj."),
    (r"^pretrained\.norm\.", "backbone.layernorm."),
    (r"^depth_head\.projects\.(\d)\.", r"neck.reassemble_stage.layers.\1.projection."),
    (r"^depth_head\.resize_layers\.([013])\.", r"neck.reassemble_stage.layers.\1.resize."),
    (r"^depth_head\.scratch\.layer(\d)_rn\.weight$", "neck.convs.{layer}.weight"),
    (r"^depth_head\.scratch\.refinenet(\d)\.out_conv\.", "neck.fusion_stage.layers.{fusion}.projection."),
    (r"^depth_head\.scratch\.refinenet(\d)\.resConfUnit(\d)\.conv(\d)\.",
     r"neck.fusion_stage.layers.{fusion}.residual_layer\2.convolution\3."),
    (r"^depth_head\.scratch\.output_conv1\.", "head.conv1."),
    (r"^depth_head\.scratch\.output_conv2\.0\.", "head.conv2."),
    (r"^depth_head\.scratch\.output_conv2\.2\.", "head.conv3."),
]
QKV = re.compile(r"^pretrained\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)$")


def rename(key: str) -> str:
    """One official key in the transformers layout; a key of no rule is returned unchanged (so it fails the
    strict load by name). refinenet 1..4 are fusion layers 3..0; ``layerN_rn`` is ``convs.N-1``."""
    for pattern, new in RENAMES:
        if m := re.match(pattern, key):
            n = int(m.group(1)) if m.groups() and m.group(1).isdigit() else 0
            new = new.replace("{layer}", str(n - 1)).replace("{fusion}", str(4 - n))
            return re.sub(pattern, new, key)
    return key


def convert(sd: Mapping[str, Any], family: str = "depth-anything") -> dict[str, Any]:
    """An official Depth Anything V2 state dict -> the ``DepthAnythingForDepthEstimation`` state dict
    (each block's fused ``qkv`` split into query, key and value)."""
    out: dict[str, Any] = {}
    for key, value in sd.items():
        if m := QKV.match(key):
            block, kind = m.groups()
            for name, part in zip("qkv", value.chunk(3, dim=0)):
                out[f"backbone.encoder.layer.{block}.attention.{name}_proj.{kind}"] = part
            continue
        out[rename(key)] = value
    return out


def config_for(sd: Mapping[str, Any], **config: Any) -> Any:
    """The ``DepthAnythingConfig`` the checkpoint's shapes imply; ``config`` sets what they cannot tell
    (``depth_estimation_type``, ``max_depth`` of a metric checkpoint)."""
    from transformers import DepthAnythingConfig, Dinov2Config

    width = int(sd["pretrained.pos_embed"].shape[-1])
    if width not in VARIANTS:
        raise ValueError(f"a DINOv2 of width {width} is none of the official Depth Anything V2 sizes "
                         f"({', '.join(v[0] for v in VARIANTS.values())})")
    _, heads, stages = VARIANTS[width]
    blocks = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"pretrained\.blocks\.(\d+)\.", k)))
    grid = round((sd["pretrained.pos_embed"].shape[1] - 1) ** 0.5)
    patch = int(sd["pretrained.patch_embed.proj.weight"].shape[-1])
    backbone = Dinov2Config(hidden_size=width, num_hidden_layers=blocks, num_attention_heads=heads,
                            patch_size=patch, image_size=grid * patch, out_indices=stages,
                            apply_layernorm=True, reshape_hidden_states=False)
    neck = [int(sd[f"depth_head.projects.{i}.weight"].shape[0]) for i in range(4)]
    fusion = int(sd["depth_head.scratch.layer1_rn.weight"].shape[0])
    head = int(sd["depth_head.scratch.output_conv2.0.weight"].shape[0])
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=width, patch_size=patch,
                               neck_hidden_sizes=neck, fusion_hidden_size=fusion, head_hidden_size=head, **config)


def empty_model(sd: Mapping[str, Any], family: str = "depth-anything", **config: Any) -> Any:
    """The ``DepthAnythingForDepthEstimation`` of the checkpoint's size, with unallocated (meta) weights."""
    import torch
    from transformers import DepthAnythingForDepthEstimation

    cfg = config_for(sd, **config)
    with torch.device("meta"):
        return DepthAnythingForDepthEstimation(cfg)


def processor(family: str = "depth-anything") -> Any:
    """The processor the Hub's ``depth-anything/Depth-Anything-V2-Small-hf`` carries (preprocessor_config.json,
    revision 32d03942121d29edb49de4e2cc15831558af3f36). seglab's adapter does not resize with it: it runs the
    official short-side-518 resize (:func:`seglab.models.depth.official_pixels`)."""
    from transformers import DPTImageProcessor

    return DPTImageProcessor(size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14,
                             resample=3, do_pad=False, image_mean=[0.485, 0.456, 0.406],
                             image_std=[0.229, 0.224, 0.225])
