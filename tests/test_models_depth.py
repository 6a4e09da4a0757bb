"""Depth Pro and Depth Anything adapters: tiny random models from the real config classes,
saved with save_pretrained and loaded through seglab.load_model(id, location=...)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    DepthProConfig,
    DepthProForDepthEstimation,
    DepthProImageProcessor,
    Dinov2Config,
    DPTImageProcessor,
)

import seglab


def _positive_head(model, last_conv: str) -> None:
    """Make the random head's last conv output small positive values (a ReLU would zero most of them)."""
    with torch.no_grad():
        model.get_parameter(f"{last_conv}.weight").mul_(0.01)
        model.get_parameter(f"{last_conv}.bias").fill_(1.0)


@pytest.fixture(scope="module")
def depth_pro_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    vit = {"model_type": "dinov2", "num_hidden_layers": 1, "hidden_size": 16, "num_attention_heads": 1,
           "patch_size": 8, "mlp_ratio": 1}
    config = DepthProConfig(
        patch_size=32, fusion_hidden_size=16, intermediate_hook_ids=[0], intermediate_feature_dims=[8],
        scaled_images_ratios=[0.5, 1.0], scaled_images_overlap_ratios=[0.0, 0.25], scaled_images_feature_dims=[8, 8],
        image_model_config=dict(vit), patch_model_config=dict(vit), fov_model_config=dict(vit),
        use_fov_model=True, num_fov_head_layers=1)
    model = DepthProForDepthEstimation(config)
    _positive_head(model, "head.layers.4")
    path = tmp_path_factory.mktemp("depth-pro")
    model.save_pretrained(path)
    DepthProImageProcessor(size={"height": 64, "width": 64}).save_pretrained(path)
    return path


def _depth_anything(path: Path, kind: str) -> Path:
    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=1, patch_size=14, image_size=56,
                            mlp_ratio=1, out_features=["stage1", "stage2"], reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16, neck_hidden_sizes=[8, 16],
                                 fusion_hidden_size=8, head_hidden_size=8, depth_estimation_type=kind, max_depth=20)
    model = DepthAnythingForDepthEstimation(config)
    _positive_head(model, "head.conv3")
    model.save_pretrained(path)
    # the Hub's processor file (depth-anything/Depth-Anything-V2-Small-hf preprocessor_config.json, revision
    # 32d03942121d29edb49de4e2cc15831558af3f36): on its own it would feed 350 x 518 for a 427 x 640 image
    DPTImageProcessor(size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14,
                      resample=3, do_pad=False).save_pretrained(path)
    return path


def test_depth_pro_is_metric_with_focal_length(depth_pro_dir, coco_image):
    model = seglab.load_model("depth-pro", location=depth_pro_dir)
    out = seglab.predict(model, coco_image)
    assert isinstance(out, seglab.DepthMap) and out.kind == "metric"
    assert out.depth.shape == coco_image.shape[:2] and out.depth.dtype == np.float32
    assert np.isfinite(out.depth).all() and (out.depth > 0).all()
    assert out.focal_length_px > 0


def test_depth_pro_known_focal_length_rescales_depth(depth_pro_dir, coco_image):
    model = seglab.load_model("depth-pro", location=depth_pro_dir)
    estimated = seglab.predict(model, coco_image)
    given = seglab.predict(model, coco_image, focal_length_px=2 * estimated.focal_length_px)
    assert given.focal_length_px == pytest.approx(2 * estimated.focal_length_px, rel=1e-4)
    unclamped = estimated.depth < 1000  # the processor clamps inverse depth, so far pixels saturate
    assert unclamped.mean() > 0.5
    np.testing.assert_allclose(given.depth[unclamped], 2 * estimated.depth[unclamped], rtol=1e-3)


@pytest.mark.parametrize("value", [0.0, -5.0, float("nan")])
def test_depth_pro_rejects_a_bad_focal_length(depth_pro_dir, coco_image, value):
    model = seglab.load_model("depth-pro", location=depth_pro_dir)
    with pytest.raises(seglab.SeglabError, match="focal_length_px"):
        seglab.predict(model, coco_image, focal_length_px=value)


@pytest.mark.parametrize(("model_id", "kind"), [("depth-anything-v2-small", "relative"),
                                                ("depth-anything-v2-metric-indoor-small", "metric")])
def test_depth_anything_kind_follows_the_config(tmp_path, coco_image, model_id, kind):
    model = seglab.load_model(model_id, location=_depth_anything(tmp_path, kind))
    out = seglab.predict(model, coco_image)
    assert isinstance(out, seglab.DepthMap) and out.kind == kind and out.focal_length_px is None
    assert out.depth.shape == coco_image.shape[:2] and out.depth.dtype == np.float32
    assert np.isfinite(out.depth).all() and out.valid.mean() > 0.5
    if kind == "metric":
        assert out.depth.max() <= 20 + 1e-3  # the metric head is a sigmoid scaled by max_depth


def test_depth_anything_runs_the_official_input_size_whatever_the_processor_says(tmp_path, coco_image):
    """Short side 518 (the official ``lower_bound`` resize): 518 x 770 for the 427 x 640 image, where the Hub's
    DPTImageProcessor file gives 350 x 518; depth comes back at the image's size."""
    model = seglab.load_model("depth-anything-v2-small", location=_depth_anything(tmp_path, "relative"))
    sizes = []
    hook = model.model.register_forward_pre_hook(
        lambda _, args, kwargs: sizes.append(tuple(kwargs["pixel_values"].shape[-2:])), with_kwargs=True)
    try:
        out = seglab.predict(model, coco_image)
    finally:
        hook.remove()
    assert coco_image.shape[:2] == (427, 640) and sizes == [(518, 770)]
    assert model.processor(images=coco_image, return_tensors="pt")["pixel_values"].shape[-2:] == (350, 518)
    assert out.depth.shape == (427, 640)
