"""benchmarks.random_init builds what the registry entry says: its backbone's sizes, its label set's classes,
and the config options in its ``extra`` (nothing is read from the weights' name)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import seglab
from benchmarks.random_init import save_random_weights
from benchmarks.tasks import BenchmarkInputError
from seglab.datasets import get_label_set


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def test_classes_are_the_entrys_label_set(tmp_path: Path):
    folder = save_random_weights(seglab.get_spec("segformer-b0-cityscapes"), tmp_path)
    id2label = _config(folder)["id2label"]
    assert [id2label[str(i)] for i in range(len(id2label))] == list(get_label_set("cityscapes-19").names)


def test_metric_depth_options_come_from_the_entry(tmp_path: Path):
    config = _config(save_random_weights(seglab.get_spec("depth-anything-v2-metric-indoor-small"), tmp_path))
    assert (config["depth_estimation_type"], config["max_depth"]) == ("metric", 20)
    assert config["backbone_config"]["hidden_size"] == 384  # ViT-S


def test_a_backbone_it_cannot_build_is_one_clear_error(tmp_path: Path):
    with pytest.raises(BenchmarkInputError, match=r"builds segformer MiT-B0 only, not segformer-b5-ade \(MiT-B5\)"):
        save_random_weights(seglab.get_spec("segformer-b5-ade"), tmp_path)


def test_sam_encoder_weights_are_not_vanishing(tmp_path: Path):
    """transformers' SAM vision config initialises with std 1e-10 (real weights replace it); random-init models
    for latency need ordinary weights, or their activations go denormal and CPU timings grow over 10x."""
    from safetensors import safe_open

    folder = save_random_weights(seglab.get_spec("sam-vit-base"), tmp_path)
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        weight = f.get_tensor("vision_encoder.layers.0.attn.qkv.weight")
    assert 0.01 < float(weight.std()) < 0.05


def test_mask2former_processor_carries_the_hub_size(tmp_path: Path):
    """The Hub's Mask2Former processors say 384 x 384; the random-init copy must too, so that the benchmark
    measures the adapter's own protocol (800 x 1333 here) rather than transformers' default processor."""
    folder = save_random_weights(seglab.get_spec("mask2former-swin-tiny-coco-instance"), tmp_path)
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["size"] == {"height": 384, "width": 384}
    assert _config(folder)["backbone_config"]["embed_dim"] == 96  # Swin-T
