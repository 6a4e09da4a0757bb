"""Official SAM 2 / SAM 2.1 checkpoints (``sam2.1_hiera_tiny.pt``, ...) in the layout of transformers' ``Sam2Model``.

The official file is ``{"model": state_dict}`` of ``sam2.modeling.sam2_base.SAM2Base``. Its image parts (Hiera
trunk, FPN neck, prompt encoder, mask decoder, ``no_mem_embed``) are renamed below; its video parts (memory
attention and encoder, object pointers, temporal encodings) have no place in the image model and are dropped by
name. Anything else, or a tensor of the wrong shape, is an error naming the file and the first bad key
(:func:`seglab.checkpoints.load_official`, which builds the model of :func:`empty_model` and loads strictly).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Hiera trunk settings of the official configs (sam2.1_hiera_{t,s,b+,l}.yaml and Hiera's defaults). The patch
# embedding width and the blocks per stage are read from the checkpoint; heads, global-attention blocks and
# window sizes cannot be, so they come from this table.
VARIANTS: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=96, num_attention_heads=1, blocks_per_stage=[1, 2, 7, 2],
                 global_attention_blocks=[5, 7, 9], window_positional_embedding_background_size=[7, 7],
                 window_size_per_stage=[8, 4, 14, 7]),
    "small": dict(hidden_size=96, num_attention_heads=1, blocks_per_stage=[1, 2, 11, 2],
                  global_attention_blocks=[7, 10, 13], window_positional_embedding_background_size=[7, 7],
                  window_size_per_stage=[8, 4, 14, 7]),
    "base-plus": dict(hidden_size=112, num_attention_heads=2, blocks_per_stage=[2, 3, 16, 3],
                      global_attention_blocks=[12, 16, 20], window_positional_embedding_background_size=[14, 14],
                      window_size_per_stage=[8, 4, 14, 7]),
    "large": dict(hidden_size=144, num_attention_heads=2, blocks_per_stage=[2, 6, 36, 4],
                  global_attention_blocks=[23, 33, 43], window_positional_embedding_background_size=[7, 7],
                  window_size_per_stage=[8, 4, 16, 8]),
}

# Video-only parts of SAM2Base (memory, object pointers); the image predictor never uses them.
VIDEO_ONLY = re.compile(r"(memory_attention|memory_encoder|obj_ptr_proj|obj_ptr_tpos_proj|mask_downsample)\."
                        r"|(maskmem_tpos_enc|no_mem_pos_enc|no_obj_ptr|no_obj_embed_spatial)$")

# (official pattern, transformers replacement), applied in order to every kept key.
RENAMES: list[tuple[str, str]] = [
    (r"^image_encoder\.trunk\.", "vision_encoder.backbone."),
    (r"^image_encoder\.neck\.convs\.(\d+)\.conv\.", r"vision_encoder.neck.convs.\1."),
    (r"\.patch_embed\.proj\.", ".patch_embed.projection."),
    (r"(\.blocks\.\d+)\.norm(\d)\.", r"\1.layer_norm\2."),
    (r"(\.blocks\.\d+\.mlp)\.layers\.0\.", r"\1.proj_in."),
    (r"(\.blocks\.\d+\.mlp)\.layers\.1\.", r"\1.proj_out."),
    (r"^no_mem_embed$", "no_memory_embedding"),
    (r"^sam_prompt_encoder\.", "prompt_encoder."),
    (r"^prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix$",
     "prompt_encoder.shared_embedding.positional_embedding"),
    (r"^prompt_encoder\.mask_downscaling\.0\.", "prompt_encoder.mask_embed.conv1."),
    (r"^prompt_encoder\.mask_downscaling\.1\.", "prompt_encoder.mask_embed.layer_norm1."),
    (r"^prompt_encoder\.mask_downscaling\.3\.", "prompt_encoder.mask_embed.conv2."),
    (r"^prompt_encoder\.mask_downscaling\.4\.", "prompt_encoder.mask_embed.layer_norm2."),
    (r"^prompt_encoder\.mask_downscaling\.6\.", "prompt_encoder.mask_embed.conv3."),
    (r"^sam_mask_decoder\.", "mask_decoder."),
    (r"^mask_decoder\.output_upscaling\.0\.", "mask_decoder.upscale_conv1."),
    (r"^mask_decoder\.output_upscaling\.1\.", "mask_decoder.upscale_layer_norm."),
    (r"^mask_decoder\.output_upscaling\.3\.", "mask_decoder.upscale_conv2."),
    (r"\.out_proj\.", ".o_proj."),
    (r"(\.transformer\.layers\.\d+)\.norm(\d)\.", r"\1.layer_norm\2."),
    (r"\.transformer\.norm_final_attn\.", ".transformer.layer_norm_final_attn."),
    (r"(\.transformer\.layers\.\d+\.mlp)\.layers\.0\.", r"\1.proj_in."),
    (r"(\.transformer\.layers\.\d+\.mlp)\.layers\.1\.", r"\1.proj_out."),
    # three-layer heads: first and last layer have names of their own, the middle one is layers.0
    (r"(_mlps\.\d+|_head)\.layers\.0\.", r"\1.proj_in."),
    (r"(_mlps\.\d+|_head)\.layers\.2\.", r"\1.proj_out."),
    (r"(_mlps\.\d+|_head)\.layers\.1\.", r"\1.layers.0."),
]
POINT_EMBEDDINGS = re.compile(r"^sam_prompt_encoder\.point_embeddings\.(\d)\.weight$")


def variant_of(sd: Mapping[str, Any]) -> str:
    """'tiny', 'small', 'base-plus' or 'large': the Hiera width and blocks per stage read from the weights."""
    width = int(sd["image_encoder.trunk.patch_embed.proj.weight"].shape[0])
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", k))})
    # the first block of every later stage changes the width, so it alone has a `proj` layer
    starts = [0] + [b for b in blocks if f"image_encoder.trunk.blocks.{b}.proj.weight" in sd] + [len(blocks)]
    stages = [b - a for a, b in zip(starts, starts[1:])]
    for name, v in VARIANTS.items():
        if v["hidden_size"] == width and v["blocks_per_stage"] == stages:
            return name
    raise ValueError(f"a Hiera trunk of width {width} with {stages} blocks per stage is none of the official "
                     f"SAM 2 sizes ({', '.join(VARIANTS)})")


def config_for(variant: str) -> Any:
    """The transformers ``Sam2Config`` of one official size (image model only)."""
    from transformers import Sam2Config, Sam2HieraDetConfig, Sam2VisionConfig

    v = VARIANTS[variant]
    width = v["hidden_size"]
    heads = v["num_attention_heads"]
    backbone = Sam2HieraDetConfig(**v, embed_dim_per_stage=[width * 2 ** i for i in range(4)],
                                  num_attention_heads_per_stage=[heads * 2 ** i for i in range(4)])
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[width * 2 ** i for i in (3, 2, 1, 0)])
    return Sam2Config(vision_config=vision)


def rename(key: str) -> str:
    """One official image-model key in the transformers layout."""
    for pattern, new in RENAMES:
        key = re.sub(pattern, new, key)
    return key


def convert(sd: Mapping[str, Any], family: str = "sam2") -> dict[str, Any]:
    """An official SAM 2 state dict -> the ``Sam2Model`` state dict (video-only parts dropped)."""
    import torch

    out: dict[str, Any] = {}
    points: dict[int, Any] = {}
    for key, value in sd.items():
        if VIDEO_ONLY.match(key):
            continue
        if m := POINT_EMBEDDINGS.match(key):  # four 1 x 256 embeddings -> one 4 x 256 table
            points[int(m.group(1))] = value
            continue
        out[rename(key)] = value
    if points:
        out["prompt_encoder.point_embed.weight"] = torch.cat([points[i] for i in sorted(points)])
    pe = out.get("prompt_encoder.shared_embedding.positional_embedding")
    if pe is not None:  # the model holds the prompt encoder's random Fourier features twice
        out["shared_image_embedding.positional_embedding"] = pe
    return out


def empty_model(sd: Mapping[str, Any], family: str = "sam2") -> Any:
    """The ``Sam2Model`` of the checkpoint's size, with unallocated (meta) weights to be assigned."""
    import torch
    from transformers import Sam2Model

    cfg = config_for(variant_of(sd))
    with torch.device("meta"):
        return Sam2Model(cfg)


def processor(family: str = "sam2") -> Any:
    """The processor with the official SAM 2 preprocessing (see :mod:`seglab.models.sam2_parts`)."""
    from transformers import Sam2Processor

    from ..models.sam2_parts import OfficialSam2ImageProcessor

    return Sam2Processor(image_processor=OfficialSam2ImageProcessor())
