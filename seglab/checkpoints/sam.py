"""SAM (segment-anything) and SAM-HQ (segment-anything-hq) checkpoints -> ``SamModel`` / ``SamHQModel``.

The renames follow the module names of the official code and of transformers' modeling files
(transformers' own ``convert_sam_to_hf.py`` / ``convert_samhq_to_hf.py`` do the same); the ViT size
(B / L / H, or any other) is read from the checkpoint's shapes, not from its file name.
"""
from __future__ import annotations

import re
from typing import Any

# Applied in order to every key, each at most once per key.
RENAMES: tuple[tuple[str, str], ...] = (
    (r"^image_encoder\.", "vision_encoder."),
    (r"\.blocks\.", ".layers."),
    (r"\.patch_embed\.proj\.", ".patch_embed.projection."),
    (r"\.neck\.0\.", ".neck.conv1."),
    (r"\.neck\.1\.", ".neck.layer_norm1."),
    (r"\.neck\.2\.", ".neck.conv2."),
    (r"\.neck\.3\.", ".neck.layer_norm2."),
    (r"\.norm(\d|_final_attn)\.", r".layer_norm\1."),  # ViT blocks' norm1/2, two-way norm1-4, norm_final_attn
    (r"\.output_upscaling\.0\.", ".upscale_conv1."),
    (r"\.output_upscaling\.1\.", ".upscale_layer_norm."),
    (r"\.output_upscaling\.3\.", ".upscale_conv2."),
    (r"\.mask_downscaling\.0\.", ".mask_embed.conv1."),
    (r"\.mask_downscaling\.1\.", ".mask_embed.layer_norm1."),
    (r"\.mask_downscaling\.3\.", ".mask_embed.conv2."),
    (r"\.mask_downscaling\.4\.", ".mask_embed.layer_norm2."),
    (r"\.mask_downscaling\.6\.", ".mask_embed.conv3."),
    (r"\.point_embeddings\.", ".point_embed."),
    (r"\.pe_layer\.positional_encoding_gaussian_matrix$", ".shared_embedding.positional_embedding"),
    # SAM-HQ's decoder additions
    (r"\.hf_token\.", ".hq_token."),
    (r"\.hf_mlp\.", ".hq_mask_mlp."),
    (r"\.compress_vit_feat\.0\.", ".compress_vit_conv1."),
    (r"\.compress_vit_feat\.1\.", ".compress_vit_norm."),
    (r"\.compress_vit_feat\.3\.", ".compress_vit_conv2."),
    (r"\.embedding_encoder\.0\.", ".encoder_conv1."),
    (r"\.embedding_encoder\.1\.", ".encoder_norm."),
    (r"\.embedding_encoder\.3\.", ".encoder_conv2."),
    (r"\.embedding_maskfeature\.0\.", ".mask_conv1."),
    (r"\.embedding_maskfeature\.1\.", ".mask_norm."),
    (r"\.embedding_maskfeature\.3\.", ".mask_conv2."),
)
# The official MLP keeps its Linear layers in ``layers.0..n-1``; transformers' SamFeedForward names
# the first ``proj_in``, the last ``proj_out`` and the ones between ``layers.0..n-3``.
MLP = re.compile(r"^(.*(?:iou_prediction_head|output_hypernetworks_mlps\.\d+|hq_mask_mlp))\.layers\.(\d+)\.(.*)$")
DROPPED = ("pixel_mean", "pixel_std")  # the processor normalises; older checkpoints saved these buffers
SHARED_PE = "prompt_encoder.shared_embedding.positional_embedding"
OFFICIAL_DECODER_EPS = 1e-5  # the official two-way transformer's nn.LayerNorm default; transformers uses 1e-6


def _rename(key: str) -> str:
    for pattern, replacement in RENAMES:
        key = re.sub(pattern, replacement, key, count=1)
    return key


def convert(state_dict: dict[str, Any], family: str) -> dict[str, Any]:
    """Official SAM / SAM-HQ keys -> ``SamModel`` / ``SamHQModel`` keys (tensors shared, not copied)."""
    renamed = {_rename(k): v for k, v in state_dict.items() if k not in DROPPED}
    depth: dict[str, int] = {}
    for key in renamed:
        if m := MLP.match(key):
            depth[m[1]] = max(depth.get(m[1], 0), int(m[2]) + 1)
    out = {}
    for key, value in renamed.items():
        if m := MLP.match(key):
            i, n = int(m[2]), depth[m[1]]
            name = "proj_in" if i == 0 else "proj_out" if i == n - 1 else f"layers.{i - 1}"
            key = f"{m[1]}.{name}.{m[3]}"
        out[key] = value
    if SHARED_PE in out:  # transformers keeps the prompt encoder's Fourier matrix twice
        out["shared_image_embedding.positional_embedding"] = out[SHARED_PE]
    return out


def _count(state_dict: dict[str, Any], prefix: str) -> int:
    """How many numbered children ``prefix.N.`` the state dict holds."""
    return len({k[len(prefix):].split(".")[0] for k in state_dict if k.startswith(prefix)})


def vision_config(state_dict: dict[str, Any]) -> dict[str, Any]:
    """The ViT's size, read from the official image encoder's tensors."""
    prefix = "image_encoder."
    patch = state_dict[prefix + "patch_embed.proj.weight"]
    blocks = range(_count(state_dict, prefix + "blocks."))
    rel = [state_dict[f"{prefix}blocks.{i}.attn.rel_pos_h"].shape for i in blocks]
    grid = state_dict[prefix + "pos_embed"].shape[1]  # patches per side of the square input
    windowed = [r[0] for r in rel if r[0] != 2 * grid - 1]
    hidden = int(patch.shape[0])
    return {
        "hidden_size": hidden,
        "num_hidden_layers": len(blocks),
        "num_attention_heads": hidden // int(rel[0][1]),
        "mlp_dim": int(state_dict[prefix + "blocks.0.mlp.lin1.weight"].shape[0]),
        "output_channels": int(state_dict[prefix + "neck.0.weight"].shape[0]),
        "patch_size": int(patch.shape[-1]),
        "image_size": int(grid * patch.shape[-1]),
        "global_attn_indexes": [i for i, r in zip(blocks, rel) if r[0] == 2 * grid - 1],
        "window_size": (int(windowed[0]) + 1) // 2 if windowed else 14,
        "num_pos_feats": int(state_dict["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"].shape[1]),
    }


def decoder_config(state_dict: dict[str, Any]) -> dict[str, Any]:
    """The mask decoder's size (the same for every released ViT size), read from its tensors; the number of
    attention heads is not in the shapes and keeps the official 8."""
    prefix = "mask_decoder."
    hidden = int(state_dict[prefix + "iou_token.weight"].shape[1])
    inner = int(state_dict[prefix + "transformer.layers.0.cross_attn_token_to_image.q_proj.weight"].shape[0])
    return {
        "hidden_size": hidden,
        "mlp_dim": int(state_dict[prefix + "transformer.layers.0.mlp.lin1.weight"].shape[0]),
        "num_hidden_layers": _count(state_dict, prefix + "transformer.layers."),
        "attention_downsample_rate": hidden // inner,
        "num_multimask_outputs": int(state_dict[prefix + "mask_tokens.weight"].shape[0]) - 1,
        "iou_head_depth": _count(state_dict, prefix + "iou_prediction_head.layers."),
        "iou_head_hidden_dim": int(state_dict[prefix + "iou_prediction_head.layers.0.weight"].shape[0]),
        "layer_norm_eps": OFFICIAL_DECODER_EPS,
    }


def config(state_dict: dict[str, Any], family: str) -> Any:
    """``SamConfig`` / ``SamHQConfig`` for an official checkpoint, with the official decoder LayerNorm eps."""
    import transformers

    vision, decoder = vision_config(state_dict), decoder_config(state_dict)
    prompt = {"hidden_size": decoder["hidden_size"], "image_size": vision["image_size"],
              "patch_size": vision["patch_size"],
              "mask_input_channels": int(state_dict["prompt_encoder.mask_downscaling.3.weight"].shape[0])}
    if family == "sam-hq":
        decoder["vit_dim"] = int(state_dict["mask_decoder.compress_vit_feat.0.weight"].shape[0])
        return transformers.SamHQConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)
    return transformers.SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)


def empty_model(state_dict: dict[str, Any], family: str) -> Any:
    """The transformers model the checkpoint's shapes imply, with unallocated (meta) weights to be assigned."""
    import torch
    import transformers

    cls = transformers.SamHQModel if family == "sam-hq" else transformers.SamModel
    cfg = config(state_dict, family)
    with torch.device("meta"):
        return cls(cfg)


def set_official_decoder_eps(model: Any) -> None:
    """Give the two-way transformer's LayerNorms of a loaded ``SamModel`` / ``SamHQModel`` the official eps
    (Hub configs carry transformers' 1e-6; the low-resolution logits then differ by ~1e-3)."""
    import torch

    model.config.mask_decoder_config.layer_norm_eps = OFFICIAL_DECODER_EPS
    for layer in model.mask_decoder.transformer.layers:
        for module in layer.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.eps = OFFICIAL_DECODER_EPS


def processor(family: str) -> Any:
    """The processor with the official preprocessing: PIL bilinear resize of the longest side to 1024
    (``SamImageProcessorPil``; the torchvision one differs by a grey level on some pixels), normalise, pad."""
    import transformers

    cls = transformers.SamHQProcessor if family == "sam-hq" else transformers.SamProcessor
    return cls(image_processor=transformers.SamImageProcessorPil())
