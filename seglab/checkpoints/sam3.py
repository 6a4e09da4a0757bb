"""The official SAM 3 checkpoint (``sam3.pt``) in the layout of transformers' ``Sam3Model`` and ``Sam3TrackerModel``.

The official file holds the detector under ``detector.`` and the interactive tracker under ``tracker.`` (the
names ``sam3.model_builder._load_checkpoint`` reads; the image model's own ``state_dict()`` names the tracker
``inst_interactive_predictor.model.``, accepted too). Both become one ``ModuleDict`` with a ``detector`` and a
``tracker`` (:func:`empty_model`), so :func:`seglab.checkpoints.load_official` loads them strictly in one go:

- detector: :data:`DETECTOR_RENAMES`, the key table of transformers' ``convert_sam3_to_hf.py``
  (huggingface/transformers, ``src/transformers/models/sam3/convert_sam3_to_hf.py`` at 0d7e95d96b4e187c651e2b2406ed98ed40d74963)
  written with groups; then fused ``qkv`` / ``in_proj`` split into q, k, v, the CLIP text projection transposed,
  the ViT position embedding's CLS row dropped, as that script does;
- tracker: its SAM 2-style prompt encoder and mask decoder through :func:`seglab.checkpoints.sam2.convert`
  (``mlp.lin1/lin2`` renamed first), the detector's ViT and the ``sam2_convs`` neck; its video parts (memory
  attention and encoder, object pointers) are dropped by name (:data:`TRACKER_VIDEO_ONLY`).

Dropped as well: the ViT's precomputed RoPE tables (``attn.freqs_cis``, recomputed by transformers; their shapes tell
which blocks attend globally), the geometry encoder's point layers (``Sam3Model`` takes no point prompts), and the
``sam2_convs`` level at scale 0.5, which the official tracker never reads (``SAM3VLBackbone(scalp=1)``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import WeightsUnavailableError
from . import sam2

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"  # the official CLIP BPE vocabulary (sam3/model_builder.py)
BPE_PACKAGES = ("sam3", "open_clip")  # where it ships: the official repo's sam3/assets; open-clip-torch's package


def bpe_path() -> Path:
    """The official BPE vocabulary file, from the first installed package of :data:`BPE_PACKAGES` that ships it."""
    import importlib.util

    for package in BPE_PACKAGES:
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for path in (Path(folder) / BPE_FILE, Path(folder).parent / "assets" / BPE_FILE):
                if path.is_file():
                    return path
    raise WeightsUnavailableError(f"the SAM 3 text vocabulary {BPE_FILE} is not installed: "
                                  f"pip install open-clip-torch==3.3.0 --no-deps")

VIT_WINDOW = 24  # official ViT: window_size=24, 72 x 72 patches (image 1008, patch 14), sam3/model_builder.py
TRACKER_SCALES = [4.0, 2.0, 1.0]  # the neck levels the official tracker uses: scale_factors [4, 2, 1, 0.5], scalp=1

_LAYER = [(rf"\.layers\.{k}\.", f".layer{k + 1}.") for k in range(3)]  # three-layer MLPs: layers.k -> layer{k+1}

# (official pattern, transformers replacement), applied in order to every detector key (prefix already stripped).
DETECTOR_RENAMES: list[tuple[str, str]] = [
    # ViT trunk
    (r"^backbone\.vision_backbone\.trunk\.", "vision_encoder.backbone."),
    (r"^vision_encoder\.backbone\.pos_embed$", "vision_encoder.backbone.embeddings.position_embeddings"),
    (r"^vision_encoder\.backbone\.patch_embed\.proj\.", "vision_encoder.backbone.embeddings.patch_embeddings.projection."),
    (r"^vision_encoder\.backbone\.ln_pre\.", "vision_encoder.backbone.layer_norm."),
    (r"^vision_encoder\.backbone\.blocks\.(\d+)\.norm(\d)\.", r"vision_encoder.backbone.layers.\1.layer_norm\2."),
    (r"^vision_encoder\.backbone\.blocks\.(\d+)\.attn\.proj\.", r"vision_encoder.backbone.layers.\1.attention.o_proj."),
    (r"^vision_encoder\.backbone\.blocks\.(\d+)\.attn\.", r"vision_encoder.backbone.layers.\1.attention."),
    (r"^vision_encoder\.backbone\.blocks\.(\d+)\.mlp\.", r"vision_encoder.backbone.layers.\1.mlp."),
    # FPN neck (detector's convs; the tracker's sam2_convs are renamed the same way, see _neck)
    (r"^backbone\.vision_backbone\.convs\.(\d+)\.", r"vision_encoder.neck.fpn_layers.\1."),
    # CLIP text encoder and its resizer
    (r"^backbone\.language_backbone\.encoder\.", "text_encoder."),
    (r"^text_encoder\.token_embedding\.", "text_encoder.text_model.embeddings.token_embedding."),
    (r"^text_encoder\.positional_embedding$", "text_encoder.text_model.embeddings.position_embedding.weight"),
    (r"^text_encoder\.ln_final\.", "text_encoder.text_model.final_layer_norm."),
    (r"^text_encoder\.text_projection$", "text_encoder.text_projection.weight"),
    (r"^text_encoder\.transformer\.resblocks\.(\d+)\.attn\.", r"text_encoder.text_model.encoder.layers.\1.self_attn."),
    (r"^text_encoder\.transformer\.resblocks\.(\d+)\.ln_(\d)\.", r"text_encoder.text_model.encoder.layers.\1.layer_norm\2."),
    (r"^text_encoder\.transformer\.resblocks\.(\d+)\.mlp\.c_fc\.", r"text_encoder.text_model.encoder.layers.\1.mlp.fc1."),
    (r"^text_encoder\.transformer\.resblocks\.(\d+)\.mlp\.c_proj\.", r"text_encoder.text_model.encoder.layers.\1.mlp.fc2."),
    (r"^backbone\.language_backbone\.resizer\.", "text_projection."),
    # geometry encoder and DETR encoder: the same encoder layer
    (r"^geometry_encoder\.encode\.", "geometry_encoder.layers."),
    (r"^transformer\.encoder\.layers\.", "detr_encoder.layers."),
    (r"^(geometry_encoder|detr_encoder)\.layers\.(\d+)\.cross_attn_image\.", r"\1.layers.\2.cross_attn."),
    (r"^(geometry_encoder|detr_encoder)\.layers\.(\d+)\.linear(\d)\.", r"\1.layers.\2.mlp.fc\3."),
    (r"^(geometry_encoder|detr_encoder)\.layers\.(\d+)\.norm(\d)\.", r"\1.layers.\2.layer_norm\3."),
    (r"^geometry_encoder\.img_pre_norm\.", "geometry_encoder.vision_layer_norm."),
    (r"^geometry_encoder\.norm\.", "geometry_encoder.prompt_layer_norm."),
    (r"^geometry_encoder\.encode_norm\.", "geometry_encoder.output_layer_norm."),
    # DETR decoder
    (r"^transformer\.decoder\.", "detr_decoder."),
    (r"^detr_decoder\.presence_token_head\.", "detr_decoder.presence_head."),
    (r"^detr_decoder\.presence_token_out_norm\.", "detr_decoder.presence_layer_norm."),
    (r"^detr_decoder\.norm\.", "detr_decoder.output_layer_norm."),
    (r"^detr_decoder\.bbox_embed\.", "detr_decoder.box_head."),
    (r"^detr_decoder\.instance_bbox_embed\.", "detr_decoder.instance_box_head."),
    (r"^detr_decoder\.boxRPB_embed_(x|y)\.", r"detr_decoder.box_rpb_embed_\1."),
    (r"^detr_decoder\.layers\.(\d+)\.ca_text\.", r"detr_decoder.layers.\1.text_cross_attn."),
    (r"^detr_decoder\.layers\.(\d+)\.cross_attn\.", r"detr_decoder.layers.\1.vision_cross_attn."),
    (r"^detr_decoder\.layers\.(\d+)\.linear(\d)\.", r"detr_decoder.layers.\1.mlp.fc\2."),
    (r"^detr_decoder\.layers\.(\d+)\.norm1\.", r"detr_decoder.layers.\1.vision_cross_attn_layer_norm."),
    (r"^detr_decoder\.layers\.(\d+)\.catext_norm\.", r"detr_decoder.layers.\1.text_cross_attn_layer_norm."),
    (r"^detr_decoder\.layers\.(\d+)\.norm2\.", r"detr_decoder.layers.\1.self_attn_layer_norm."),
    (r"^detr_decoder\.layers\.(\d+)\.norm3\.", r"detr_decoder.layers.\1.mlp_layer_norm."),
    # dot-product scoring
    (r"^dot_prod_scoring\.prompt_mlp\.out_norm\.", "dot_product_scoring.text_mlp_out_norm."),
    (r"^dot_prod_scoring\.prompt_mlp\.", "dot_product_scoring.text_mlp."),
    (r"^dot_prod_scoring\.prompt_proj\.", "dot_product_scoring.text_proj."),
    (r"^dot_prod_scoring\.hs_proj\.", "dot_product_scoring.query_proj."),
    # mask decoder
    (r"^segmentation_head\.(mask_predictor\.)?mask_embed\.", "mask_decoder.mask_embedder."),
    (r"^segmentation_head\.instance_seg_head\.", "mask_decoder.instance_projection."),
    (r"^segmentation_head\.semantic_seg_head\.", "mask_decoder.semantic_projection."),
    (r"^segmentation_head\.cross_attend_prompt\.", "mask_decoder.prompt_cross_attn."),
    (r"^segmentation_head\.cross_attn_norm\.", "mask_decoder.prompt_cross_attn_norm."),
    (r"^segmentation_head\.", "mask_decoder."),
    # module names shared by several parts
    *[(r"^((?:detr_decoder\.(?:presence_head|box_head|instance_box_head|ref_point_head|box_rpb_embed_[xy]))"
       r"|dot_product_scoring\.text_mlp)" + old, r"\1" + new) for old, new in _LAYER],
    (r"^(?!text_encoder\.)(.*)\.out_proj\.", r"\1.o_proj."),
]
# FPN level modules -> transformers' Sam3FPNLayer (the 2x2 max-pool of scale 0.5 holds no weights)
NECK_RENAMES: list[tuple[str, str]] = [
    (r"\.dconv_2x2(_0)?\.", ".scale_layers.0."),
    (r"\.dconv_2x2_1\.", ".scale_layers.2."),
    (r"\.conv_1x1\.", ".proj1."),
    (r"\.conv_3x3\.", ".proj2."),
]
DETECTOR_DROPPED = re.compile(r"\.attn\.freqs_cis$|^geometry_encoder\.points_")
TRACKER_PREFIX = re.compile(r"^(tracker\.|inst_interactive_predictor\.model\.)")
# the tracker's video-only parts: memory attention ("transformer"), memory encoder, object pointers, temporal codes
TRACKER_VIDEO_ONLY = re.compile(r"^(transformer|maskmem_backbone|obj_ptr_proj|obj_ptr_tpos_proj|mask_downsample)\."
                                r"|^(maskmem_tpos_enc|no_mem_pos_enc|no_obj_ptr|no_obj_embed_spatial)$")
SAM2_NECK = re.compile(r"^backbone\.vision_backbone\.sam2_convs\.(\d+)\.(.*)$")


def _rename(key: str, table: list[tuple[str, str]]) -> str:
    for pattern, new in table:
        key = re.sub(pattern, new, key)
    return key


def _split_fused(sd: dict[str, Any]) -> dict[str, Any]:
    """Fused q/k/v projections (``attention.qkv.*``, ``in_proj_*``) as three, as transformers keeps them."""
    out: dict[str, Any] = {}
    for key, value in sd.items():
        if m := re.match(r"^(.*\.attention\.)qkv\.(weight|bias)$", key):
            base, kind = m.group(1), m.group(2)
        elif m := re.match(r"^(.*\.)in_proj_(weight|bias)$", key):
            base, kind = m.group(1), m.group(2)
        else:
            out[key] = value
            continue
        for name, part in zip("qkv", value.chunk(3, dim=0)):
            out[f"{base}{name}_proj.{kind}"] = part
    return out


def split(sd: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(detector, tracker) parts of an official state dict, their prefixes stripped."""
    detector, tracker = {}, {}
    for key, value in sd.items():
        if TRACKER_PREFIX.match(key):
            tracker[TRACKER_PREFIX.sub("", key)] = value
        else:
            detector[re.sub(r"^detector\.", "", key)] = value
    return detector, tracker


def convert_detector(sd: Mapping[str, Any]) -> dict[str, Any]:
    """The official detector state dict -> ``Sam3Model``'s (the ``sam2_convs`` neck left out: it is the tracker's)."""
    out: dict[str, Any] = {}
    for key, value in sd.items():
        if DETECTOR_DROPPED.search(key) or SAM2_NECK.match(key):
            continue
        new = _rename(key, DETECTOR_RENAMES)
        if new.startswith("vision_encoder.neck."):
            new = _rename(new, NECK_RENAMES)
        if new == "vision_encoder.backbone.embeddings.position_embeddings":
            value = value[:, 1:]  # the pretraining CLS token's row; the ViT keeps no CLS token
        elif new == "text_encoder.text_projection.weight":
            value = value.T  # stored (in, out) in the official text encoder
        out[new] = value
    return _split_fused(out)


def convert_tracker(detector_sd: Mapping[str, Any], tracker_sd: Mapping[str, Any],
                    detector: Mapping[str, Any]) -> dict[str, Any]:
    """``Sam3TrackerModel``'s state dict: the official tracker's prompt encoder and mask decoder, the ``sam2_convs``
    neck of the official detector state dict and the ViT of the converted ``detector``."""
    image_parts = {re.sub(r"\.mlp\.lin(\d)\.", lambda m: f".mlp.layers.{int(m.group(1)) - 1}.", k): v
                   for k, v in tracker_sd.items() if not TRACKER_VIDEO_ONLY.match(k)}
    out = sam2.convert(image_parts)
    for key, value in detector_sd.items():
        if (m := SAM2_NECK.match(key)) and int(m.group(1)) < len(TRACKER_SCALES):
            out[_rename(f"vision_encoder.neck.fpn_layers.{m.group(1)}.{m.group(2)}", NECK_RENAMES)] = value
    out.update({k: v for k, v in detector.items() if k.startswith("vision_encoder.backbone.")})
    return out


def convert(sd: Mapping[str, Any], family: str = "sam3") -> dict[str, Any]:
    """An official SAM 3 state dict -> the state dict of :func:`empty_model` (``detector.*``, ``tracker.*``)."""
    detector_sd, tracker_sd = split(sd)
    if not tracker_sd:
        raise KeyError("tracker.sam_mask_decoder.iou_token.weight")
    detector = convert_detector(detector_sd)
    tracker = convert_tracker(detector_sd, tracker_sd, detector)
    return {**{f"detector.{k}": v for k, v in detector.items()}, **{f"tracker.{k}": v for k, v in tracker.items()}}


def _count(sd: Mapping[str, Any], pattern: str) -> int:
    return len({m.group(1) for k in sd if (m := re.match(pattern, k))})


def vit_settings(detector_sd: Mapping[str, Any]) -> dict[str, Any]:
    """Width, MLP width, blocks and global-attention blocks of the official ViT, the latter read from its RoPE tables (a windowed block's
    covers 24 x 24 positions), or the official ``global_att_blocks`` (7, 15, 23, 31) where they were left out."""
    trunk = r"^backbone\.vision_backbone\.trunk\.blocks\.(\d+)\."
    depth = _count(detector_sd, trunk)
    if depth == 0:
        raise KeyError("detector.backbone.vision_backbone.trunk.blocks.0.attn.qkv.weight")
    tables = {i: detector_sd.get(f"backbone.vision_backbone.trunk.blocks.{i}.attn.freqs_cis") for i in range(depth)}
    if all(t is not None for t in tables.values()):
        globals_ = [i for i, t in tables.items() if t.shape[0] != VIT_WINDOW ** 2]
    else:
        globals_ = [i for i in (7, 15, 23, 31) if i < depth]
    return dict(num_hidden_layers=depth, global_attn_indexes=globals_,
                hidden_size=int(detector_sd["backbone.vision_backbone.trunk.patch_embed.proj.weight"].shape[0]),
                intermediate_size=int(detector_sd["backbone.vision_backbone.trunk.blocks.0.mlp.fc1.weight"].shape[0]))


def configs(sd: Mapping[str, Any]) -> tuple[Any, Any]:
    """(``Sam3Config``, ``Sam3TrackerConfig``) of the checkpoint: depths read from its keys, the rest official."""
    from transformers import Sam3Config, Sam3TrackerConfig

    detector_sd, _ = split(sd)
    vit = vit_settings(detector_sd)
    config = Sam3Config()
    for name, value in vit.items():
        setattr(config.vision_config.backbone_config, name, value)
    config.text_config.num_hidden_layers = _count(
        detector_sd, r"^backbone\.language_backbone\.encoder\.transformer\.resblocks\.(\d+)\.")
    config.geometry_encoder_config.num_layers = _count(detector_sd, r"^geometry_encoder\.encode\.(\d+)\.")
    config.detr_encoder_config.num_layers = _count(detector_sd, r"^transformer\.encoder\.layers\.(\d+)\.")
    config.detr_decoder_config.num_layers = _count(detector_sd, r"^transformer\.decoder\.layers\.(\d+)\.")
    tracker = Sam3TrackerConfig()
    for name, value in vit.items():
        setattr(tracker.vision_config.backbone_config, name, value)
    tracker.vision_config.scale_factors = list(TRACKER_SCALES)
    return config, tracker


def empty_model(sd: Mapping[str, Any], family: str = "sam3") -> Any:
    """``ModuleDict(detector=Sam3Model, tracker=Sam3TrackerModel)`` of the checkpoint's depths, its weights left
    uninitialised (to be assigned); built on the CPU, not the meta device, because their RoPE tables and position
    ids are buffers outside the state dict, computed at construction."""
    import torch
    from transformers import Sam3Model, Sam3TrackerModel
    from transformers.initialization import no_init_weights

    config, tracker = configs(sd)
    with no_init_weights():
        return torch.nn.ModuleDict({"detector": Sam3Model(config), "tracker": Sam3TrackerModel(tracker)})


def processor(family: str = "sam3") -> Any:
    """``Sam3Processor`` built locally: transformers' image processor and the CLIP tokenizer of
    :func:`seglab.models.sam3.clip_tokenizer` (the official BPE vocabulary)."""
    from ..models.sam3 import local_processor

    return local_processor()
