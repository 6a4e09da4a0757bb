"""Tiny random models for the app's tests, built from the real transformers config classes and saved
with ``save_pretrained`` into ``<folder>/<model-id>/``: the layout the app reads from its weights folder."""
from __future__ import annotations

from pathlib import Path

import torch

SIDE = 128  # tiny input sizes keep every model call in the tens of milliseconds


def _sam():
    import transformers as tf
    from transformers.models.sam import configuration_sam as c

    hidden = 32
    config = tf.SamConfig(
        vision_config=c.SamVisionConfig(hidden_size=32, output_channels=hidden, num_hidden_layers=2,
                                        num_attention_heads=2, global_attn_indexes=[1], num_pos_feats=hidden // 2,
                                        mlp_dim=64, image_size=SIDE * 2),
        prompt_encoder_config=c.SamPromptEncoderConfig(hidden_size=hidden, image_size=SIDE * 2),
        mask_decoder_config=c.SamMaskDecoderConfig(hidden_size=hidden, mlp_dim=64, num_attention_heads=2,
                                                   iou_head_hidden_dim=hidden))
    images = tf.SamImageProcessor(size={"longest_edge": SIDE * 2}, pad_size={"height": SIDE * 2, "width": SIDE * 2})
    return tf.SamModel(config), tf.SamProcessor(images)


def _segformer(names: dict[int, str] | None = None):
    import transformers as tf

    names = names or {0: "wall", 1: "floor", 2: "sky", 3: "cat", 4: "tree"}
    config = tf.SegformerConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1],
                                decoder_hidden_size=16, num_labels=len(names), id2label=names,
                                label2id={v: k for k, v in names.items()})
    return (tf.SegformerForSemanticSegmentation(config),
            tf.SegformerImageProcessor(size={"height": SIDE // 2, "width": SIDE // 2}))


def _face_parsing():
    from seglab.datasets import get_label_set

    return _segformer(dict(enumerate(get_label_set("celebamask-hq-19").names)))


def _mask2former():
    import transformers as tf

    from seglab.coco_categories import COCO_PANOPTIC_CATEGORIES

    names = {i: c.name for i, c in enumerate(COCO_PANOPTIC_CATEGORIES)}
    swin = tf.SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4,
                         out_features=["stage1", "stage2", "stage3", "stage4"])
    config = tf.Mask2FormerConfig(backbone_config=swin, hidden_dim=32, mask_feature_size=32, feature_size=32,
                                  encoder_feedforward_dim=64, dim_feedforward=64, encoder_layers=1, decoder_layers=2,
                                  num_attention_heads=2, num_queries=8, common_stride=4, id2label=names,
                                  label2id={v: k for k, v in names.items()})
    processor = tf.Mask2FormerImageProcessor(size={"shortest_edge": SIDE // 2, "longest_edge": SIDE}, size_divisor=32)
    return tf.Mask2FormerForUniversalSegmentation(config), processor


def _depth_anything():
    import transformers as tf

    backbone = tf.Dinov2Config(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
                               patch_size=14, image_size=56, out_features=["stage1", "stage2", "stage3", "stage4"],
                               reshape_hidden_states=False)
    config = tf.DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16, patch_size=14,
                                    neck_hidden_sizes=[8, 16, 32, 64], fusion_hidden_size=16,
                                    head_hidden_size=8, depth_estimation_type="metric", max_depth=10)
    processor = tf.DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14,
                                     do_pad=False)
    return tf.DepthAnythingForDepthEstimation(config), processor


BUILDERS = {
    "sam-vit-base": _sam,
    "segformer-b0-ade": _segformer,
    "segformer-b5-face-parsing": _face_parsing,
    "mask2former-swin-tiny-coco-instance": _mask2former,
    "mask2former-swin-tiny-coco-panoptic": _mask2former,
    "depth-anything-v2-metric-indoor-small": _depth_anything,
}


def save_tiny_models(folder: Path, ids: tuple[str, ...] = tuple(BUILDERS)) -> Path:
    """Random tiny weights for ``ids`` in ``folder/<id>/``; returns ``folder``."""
    for model_id in ids:
        torch.manual_seed(0)
        model, processor = BUILDERS[model_id]()
        model.eval().save_pretrained(folder / model_id)
        processor.save_pretrained(folder / model_id)
    return folder
