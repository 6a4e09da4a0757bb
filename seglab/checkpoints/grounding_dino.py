"""Official Grounding DINO checkpoints (``groundingdino_swint_ogc.pth``, ...) in the layout of transformers'
``GroundingDinoForObjectDetection``.

The official file is ``{"model": state_dict}`` of ``groundingdino.models.GroundingDINO.GroundingDINO``. The key table
follows transformers' ``convert_grounding_dino_to_hf.py`` (huggingface/transformers,
``src/transformers/models/grounding_dino/convert_grounding_dino_to_hf.py`` at 033d9039bbaa15f641b90987d6c752a36bb01f9e)
with the names transformers 5 gives the same layers (the Swin attention's ``q_proj`` / ``o_proj`` / ``mlp``, the
text and decoder attentions' split ``query`` / ``key`` / ``value``). BERT's pooler and Swin's
``relative_position_index`` buffers have no place in the transformers model and are dropped. The architecture is read
from the tensor shapes; the attention heads of the deformable layers (8 in both official configs) and BERT's heads
(its width / 64, as in bert-base) cannot be, so they come from :data:`HEADS`. Anything else, or a tensor of the wrong
shape, is an error naming the file and the first bad key (:func:`seglab.checkpoints.official_model`).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

# official GroundingDINO_SwinT_OGC.py / GroundingDINO_SwinB_cfg.py: nheads = 8; BERT: 64 channels a head
HEADS = 8
BERT_HEAD_WIDTH = 64
MAX_TEXT_LEN = 256  # hard-coded in GroundingDINO.__init__ (self.max_text_len = 256)

SWIN = "model.backbone.conv_encoder.model.swin."
DROPPED = re.compile(r"(\.relative_position_index|^bert\.pooler\..*)$")
# "<qkv>" / "<in_proj>" mark a fused projection, split in three along its first axis (:data:`SPLITS`)
SPLITS: dict[str, tuple[str, str, str]] = {"<qkv>": ("q_proj", "k_proj", "v_proj"),
                                           "<in_proj>": ("query", "key", "value")}

Replacement = str | Callable[[re.Match[str]], str]
# (official pattern, transformers replacement), applied in order to every kept key.
RENAMES: list[tuple[str, Replacement]] = [
    # Swin backbone
    (r"^backbone\.0\.patch_embed\.proj\.", SWIN + "embeddings.patch_embeddings.projection."),
    (r"^backbone\.0\.patch_embed\.norm\.", SWIN + "embeddings.norm."),
    (r"^backbone\.0\.layers\.", SWIN + "encoder.layers."),
    (r"(\.blocks\.\d+)\.norm1\.", r"\1.layernorm_before."),
    (r"(\.blocks\.\d+)\.norm2\.", r"\1.layernorm_after."),
    (r"(\.blocks\.\d+)\.attn\.relative_position_bias_table$", r"\1.attention.relative_position_bias.relative_position_bias_table"),
    (r"(\.blocks\.\d+)\.attn\.qkv\.", r"\1.attention.<qkv>."),
    (r"(\.blocks\.\d+)\.attn\.proj\.", r"\1.attention.o_proj."),
    # the official norm{i} follows Swin stage i + 1 (out_indices 1, 2, 3 -> stage2, stage3, stage4)
    (r"^backbone\.0\.norm(\d)\.", lambda m: f"model.backbone.conv_encoder.model.hidden_states_norms.stage{int(m[1]) + 1}."),
    # text backbone, projections, queries
    (r"^bert\.", "model.text_backbone."),
    (r"^feat_map\.", "model.text_projection."),
    (r"^input_proj\.", "model.input_proj_vision."),
    (r"^transformer\.level_embed$", "model.level_embed"),
    (r"^transformer\.tgt_embed\.", "model.query_position_embeddings."),
    (r"^transformer\.enc_output", "model.enc_output"),
    (r"^transformer\.enc_out_bbox_embed\.", "model.encoder_output_bbox_embed."),
    # encoder: deformable image layer, text enhancer, fusion
    (r"^transformer\.encoder\.layers\.(\d+)\.self_attn\.", r"model.encoder.layers.\1.deformable_layer.self_attn."),
    (r"^transformer\.encoder\.layers\.(\d+)\.norm1\.", r"model.encoder.layers.\1.deformable_layer.self_attn_layer_norm."),
    (r"^transformer\.encoder\.layers\.(\d+)\.linear(\d)\.", r"model.encoder.layers.\1.deformable_layer.fc\2."),
    (r"^transformer\.encoder\.layers\.(\d+)\.norm2\.", r"model.encoder.layers.\1.deformable_layer.final_layer_norm."),
    (r"^transformer\.encoder\.text_layers\.(\d+)\.", r"model.encoder.layers.\1.text_enhancer_layer."),
    (r"(\.text_enhancer_layer)\.linear(\d)\.", r"\1.fc\2."),
    (r"(\.text_enhancer_layer)\.norm1\.", r"\1.layer_norm_before."),
    (r"(\.text_enhancer_layer)\.norm2\.", r"\1.layer_norm_after."),
    (r"^transformer\.encoder\.fusion_layers\.(\d+)\.", r"model.encoder.layers.\1.fusion_layer."),
    (r"(\.fusion_layer)\.gamma_v$", r"\1.vision_param"),
    (r"(\.fusion_layer)\.gamma_l$", r"\1.text_param"),
    (r"(\.fusion_layer)\.layer_norm_v\.", r"\1.layer_norm_vision."),
    (r"(\.fusion_layer)\.layer_norm_l\.", r"\1.layer_norm_text."),
    (r"(\.fusion_layer\.attn)\.(out_|values_)?v_proj\.", r"\1.\2vision_proj."),
    (r"(\.fusion_layer\.attn)\.(out_|values_)?l_proj\.", r"\1.\2text_proj."),
    # decoder
    (r"^transformer\.decoder\.norm\.", "model.decoder.layer_norm."),
    (r"^transformer\.decoder\.ref_point_head\.", "model.decoder.reference_points_head."),
    (r"^transformer\.decoder\.bbox_embed\.", "model.decoder.bbox_embed."),
    (r"^transformer\.decoder\.layers\.", "model.decoder.layers."),
    (r"(decoder\.layers\.\d+)\.cross_attn\.", r"\1.encoder_attn."),
    (r"(decoder\.layers\.\d+)\.norm1\.", r"\1.encoder_attn_layer_norm."),
    (r"(decoder\.layers\.\d+)\.ca_text\.", r"\1.encoder_attn_text."),
    (r"(decoder\.layers\.\d+)\.catext_norm\.", r"\1.encoder_attn_text_layer_norm."),
    (r"(decoder\.layers\.\d+)\.norm2\.", r"\1.self_attn_layer_norm."),
    (r"(decoder\.layers\.\d+)\.linear(\d)\.", r"\1.fc\2."),
    (r"(decoder\.layers\.\d+)\.norm3\.", r"\1.final_layer_norm."),
    # fused attention input projections (nn.MultiheadAttention)
    (r"\.in_proj_(weight|bias)$", r".<in_proj>.\1"),
]


def rename(key: str) -> str:
    """One official key in the transformers layout (a fused projection keeps its ``<qkv>`` / ``<in_proj>`` mark)."""
    for pattern, new in RENAMES:
        key = re.sub(pattern, new, key)
    return key


def convert(sd: Mapping[str, Any], family: str = "grounding-dino") -> dict[str, Any]:
    """An official Grounding DINO state dict -> the ``GroundingDinoForObjectDetection`` state dict."""
    import torch

    sd = {k.removeprefix("module."): v for k, v in sd.items()}  # saved from DistributedDataParallel
    out: dict[str, Any] = {}
    for key, value in sd.items():
        if DROPPED.search(key):
            continue
        new = rename(key)
        mark = next((m for m in SPLITS if m in new), None)
        if mark is None:
            out[new] = value
            continue
        for name, part in zip(SPLITS[mark], value.chunk(3, dim=0)):
            out[new.replace(mark, name)] = part
    # Swin's final LayerNorm is not used by the backbone (its stages have norms of their own): LayerNorm's defaults
    width = int(sd["backbone.0.patch_embed.proj.weight"].shape[0]) * 2 ** (len(swin_depths(sd)) - 1)
    out[SWIN + "layernorm.weight"] = torch.ones(width)
    out[SWIN + "layernorm.bias"] = torch.zeros(width)
    return out


def count(sd: Mapping[str, Any], pattern: str) -> int:
    """How many distinct indices the ``(\\d+)`` of ``pattern`` takes among the keys."""
    return len({m.group(1) for k in sd if (m := re.match(pattern, k))})


def swin_depths(sd: Mapping[str, Any]) -> list[int]:
    """Blocks per Swin stage."""
    stages = count(sd, r"backbone\.0\.layers\.(\d+)\.")
    return [count(sd, rf"backbone\.0\.layers\.{i}\.blocks\.(\d+)\.") for i in range(stages)]


def config_for(sd: Mapping[str, Any]) -> Any:
    """The transformers ``GroundingDinoConfig`` that the checkpoint's tensor shapes imply."""
    from transformers import GroundingDinoConfig, SwinConfig

    depths = swin_depths(sd)
    tables = [sd[f"backbone.0.layers.{i}.blocks.0.attn.relative_position_bias_table"] for i in range(len(depths))]
    window = (math.isqrt(int(tables[0].shape[0])) + 1) // 2  # the table has (2 w - 1)^2 rows
    out_indices = sorted(int(m.group(1)) + 1 for k in sd if (m := re.match(r"backbone\.0\.norm(\d)\.weight$", k)))
    backbone = SwinConfig(embed_dim=int(sd["backbone.0.patch_embed.proj.weight"].shape[0]), depths=depths,
                          num_heads=[int(t.shape[1]) for t in tables], window_size=window, out_indices=out_indices)
    levels, d_model = (int(v) for v in sd["transformer.level_embed"].shape)
    words, width = (int(v) for v in sd["bert.embeddings.word_embeddings.weight"].shape)
    text = {"model_type": "bert", "vocab_size": words, "hidden_size": width,
            "num_hidden_layers": count(sd, r"bert\.encoder\.layer\.(\d+)\."),
            "num_attention_heads": max(1, width // BERT_HEAD_WIDTH),
            "intermediate_size": int(sd["bert.encoder.layer.0.intermediate.dense.weight"].shape[0]),
            "max_position_embeddings": int(sd["bert.embeddings.position_embeddings.weight"].shape[0]),
            "type_vocab_size": int(sd["bert.embeddings.token_type_embeddings.weight"].shape[0])}

    def points(part: str) -> int:  # sampling offsets: heads x levels x points x 2 outputs
        return int(sd[f"transformer.{part}.layers.0.{'self_attn' if part == 'encoder' else 'cross_attn'}"
                      ".sampling_offsets.weight"].shape[0]) // (HEADS * levels * 2)

    return GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=d_model, num_feature_levels=levels,
        num_queries=int(sd["transformer.tgt_embed.weight"].shape[0]), max_text_len=MAX_TEXT_LEN,
        encoder_layers=count(sd, r"transformer\.encoder\.layers\.(\d+)\."),
        decoder_layers=count(sd, r"transformer\.decoder\.layers\.(\d+)\."),
        encoder_ffn_dim=int(sd["transformer.encoder.layers.0.linear1.weight"].shape[0]),
        decoder_ffn_dim=int(sd["transformer.decoder.layers.0.linear1.weight"].shape[0]),
        encoder_attention_heads=HEADS, decoder_attention_heads=HEADS,
        encoder_n_points=points("encoder"), decoder_n_points=points("decoder"))


def empty_model(sd: Mapping[str, Any], family: str = "grounding-dino") -> Any:
    """The ``GroundingDinoForObjectDetection`` of the checkpoint's architecture, its weights left uninitialised to
    be assigned (not on the meta device: its non-persistent buffers, such as the special-token ids and Swin's
    relative position index, are computed when it is built and are in no checkpoint)."""
    from transformers import GroundingDinoForObjectDetection
    from transformers.initialization import no_init_weights

    cfg = config_for({k.removeprefix("module."): v for k, v in sd.items()})
    with no_init_weights():
        return GroundingDinoForObjectDetection(cfg)
