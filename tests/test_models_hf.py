"""SegFormer, Mask2Former and OneFormer adapters: tiny random models from the real config classes,
saved with save_pretrained and loaded through seglab.load_model(id, location=...)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    CLIPTokenizer,
    Mask2FormerConfig,
    Mask2FormerForUniversalSegmentation,
    Mask2FormerImageProcessor,
    OneFormerConfig,
    OneFormerForUniversalSegmentation,
    OneFormerImageProcessor,
    OneFormerProcessor,
    SegformerConfig,
    SegformerForSemanticSegmentation,
    SegformerImageProcessor,
    SwinConfig,
)

import seglab
from seglab.coco_categories import COCO_PANOPTIC_CATEGORIES, COCO_THING_CATEGORIES
from seglab.datasets import get_label_set
from seglab.models.universal import UniversalSegmenter

PANOPTIC_NAMES = [c.name for c in COCO_PANOPTIC_CATEGORIES]
THING_NAMES = [c.name for c in COCO_THING_CATEGORIES]
CITYSCAPES = get_label_set("cityscapes-19").categories
CITYSCAPES_NAMES = [c.name for c in CITYSCAPES]
COCO_ISTHING = {c.id: c.isthing for c in COCO_PANOPTIC_CATEGORIES}
HUB_SIZE = {"height": 384, "width": 384}  # the Hub processors' size: the adapters must not use it (their protocol rules)


def _swin() -> SwinConfig:
    return SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4,
                      out_features=["stage1", "stage2", "stage3", "stage4"])


def _sharpen(model, class_weight: str, mask_weight: str) -> None:
    """Scale the random class and mask heads so the tiny model makes confident, non-empty predictions."""
    with torch.no_grad():
        model.get_parameter(class_weight).mul_(100)
        model.get_parameter(mask_weight).mul_(30)


def _mask2former(path: Path, names: list[str]) -> Path:
    torch.manual_seed(0)
    config = Mask2FormerConfig(
        backbone_config=_swin(), feature_size=32, mask_feature_size=32, hidden_dim=32, encoder_feedforward_dim=32,
        encoder_layers=1, decoder_layers=2, num_attention_heads=2, dim_feedforward=32, num_queries=10,
        id2label=dict(enumerate(names)))
    model = Mask2FormerForUniversalSegmentation(config)
    _sharpen(model, "class_predictor.weight",
             "model.transformer_module.decoder.mask_predictor.mask_embedder.2.0.weight")
    model.save_pretrained(path)
    Mask2FormerImageProcessor(size=HUB_SIZE).save_pretrained(path)
    return path


def _clip_tokenizer() -> CLIPTokenizer:
    """A character-level CLIP tokenizer built offline (the real one is a Hub download)."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def _oneformer(path: Path, names: list[str], isthing: list[bool]) -> Path:
    torch.manual_seed(0)
    tokenizer = _clip_tokenizer()
    config = OneFormerConfig(
        backbone_config=_swin(), conv_dim=32, mask_dim=32, hidden_dim=32, encoder_feedforward_dim=32,
        dim_feedforward=32, encoder_layers=1, decoder_layers=2, num_attention_heads=2, num_queries=10,
        query_dec_layers=1, text_encoder_width=32, text_encoder_context_length=16, text_encoder_num_layers=1,
        text_encoder_vocab_size=len(tokenizer), text_encoder_proj_layers=1, text_encoder_n_ctx=2, task_seq_len=16,
        max_seq_len=16, id2label=dict(enumerate(names)))
    model = OneFormerForUniversalSegmentation(config)
    _sharpen(model, "model.transformer_module.decoder.class_embed.weight",
             "model.transformer_module.decoder.mask_embed.layers.2.0.weight")
    model.save_pretrained(path)
    info = {str(i): {"name": n, "isthing": int(t)} for i, (n, t) in enumerate(zip(names, isthing))}
    (path / "class_info.json").write_text(json.dumps(info))
    image_processor = OneFormerImageProcessor(size=HUB_SIZE, repo_path=str(path), class_info_file="class_info.json",
                                              num_text=config.num_queries - config.text_encoder_n_ctx)
    OneFormerProcessor(image_processor=image_processor, tokenizer=tokenizer, max_seq_length=16,
                       task_seq_length=16).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def m2f_panoptic(tmp_path_factory) -> Path:
    return _mask2former(tmp_path_factory.mktemp("m2f-panoptic"), PANOPTIC_NAMES)


@pytest.fixture(scope="module")
def oneformer_coco(tmp_path_factory) -> Path:
    return _oneformer(tmp_path_factory.mktemp("oneformer"), PANOPTIC_NAMES,
                      [c.isthing for c in COCO_PANOPTIC_CATEGORIES])


def _check_panoptic(out, image) -> None:
    assert isinstance(out, seglab.PanopticMap)
    assert out.image_size == image.shape[:2] and out.segment_ids.dtype == np.int32
    assert out.segments, "the sharpened tiny model should find at least one segment"
    present = set(np.unique(out.segment_ids).tolist()) - {0}
    assert present == {s.id for s in out.segments}  # every segment is on the map, every map id has a segment
    for s in out.segments:
        assert s.isthing == COCO_ISTHING[s.category_id] and out.class_names[s.category_id]
        assert 0 <= s.score <= 1


def test_segformer(tmp_path, coco_image):
    torch.manual_seed(0)
    names = ["wall", "building", "sky", "floor", "tree"]
    config = SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
                             decoder_hidden_size=16, id2label=dict(enumerate(names)))
    SegformerForSemanticSegmentation(config).save_pretrained(tmp_path)
    # nvidia/segformer-b0-finetuned-ade-512-512's processor settings (see tests/test_sliding.py); the adapter
    # resizes by its protocol instead
    SegformerImageProcessor(size={"height": 512, "width": 512}, do_reduce_labels=True).save_pretrained(tmp_path)
    out = seglab.predict(seglab.load_model("segformer-b0-ade", location=tmp_path), coco_image, probabilities=True)
    h, w = coco_image.shape[:2]
    assert isinstance(out, seglab.SemanticMap) and out.labels.shape == (h, w) and out.labels.dtype == np.int32
    assert out.class_names == dict(enumerate(names)) and out.labels.max() < len(names)
    assert out.probabilities.shape == (len(names), h, w)
    np.testing.assert_allclose(out.probabilities.sum(0), 1.0, atol=1e-4)
    at_label = np.take_along_axis(out.probabilities, out.labels[None].astype(np.int64), 0)[0]
    assert (at_label >= out.probabilities.max(0) - 1e-5).all()  # the label is the most probable class (ties aside)


def test_segformer_fixed_protocol_stretches_to_its_size_not_the_processor_files(tmp_path, coco_image):
    """atr-512 (resize 'fixed', 512 x 512): the processor resizes to the protocol's size, whatever its file says."""
    torch.manual_seed(0)
    names = list(get_label_set("atr-18").names)
    config = SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
                             decoder_hidden_size=16, id2label=dict(enumerate(names)))
    SegformerForSemanticSegmentation(config).save_pretrained(tmp_path)
    SegformerImageProcessor(size={"height": 64, "width": 96}).save_pretrained(tmp_path)
    model = seglab.load_model("segformer-b2-clothes", location=tmp_path)
    inputs = []
    model.model.register_forward_pre_hook(lambda m, a, kw: inputs.append(tuple(kw["pixel_values"].shape)),
                                          with_kwargs=True)
    out = seglab.predict(model, coco_image)
    assert inputs == [(1, 3, 512, 512)] and out.labels.shape == coco_image.shape[:2]


@pytest.mark.parametrize("model_id, side, reduce_labels", [("segformer-b0-ade", 512, True),
                                                           ("segformer-b0-cityscapes", 1024, False)])
def test_random_init_segformer_saves_the_hub_processor_settings(tmp_path, model_id, side, reduce_labels):
    from benchmarks.random_init import save_random_weights

    processor = SegformerImageProcessor.from_pretrained(save_random_weights(seglab.get_spec(model_id), tmp_path))
    assert processor.size == {"height": side, "width": side} and processor.do_reduce_labels is reduce_labels


def test_mask2former_panoptic_uses_official_coco_ids(m2f_panoptic, coco_image):
    model = seglab.load_model("mask2former-swin-tiny-coco-panoptic", location=m2f_panoptic)
    # every query, and a mask threshold that leaves the random model's overlapping masks a few segments
    out = seglab.predict(model, coco_image, threshold=0.0, mask_threshold=0.8)
    _check_panoptic(out, coco_image)
    assert set(out.class_names) == {c.id for c in COCO_PANOPTIC_CATEGORIES}
    assert seglab.predict(model, coco_image, threshold=1.01).segments == ()  # above any score


def test_mask2former_semantic_keeps_contiguous_ids(m2f_panoptic, coco_image):
    model = seglab.load_model("mask2former-swin-large-coco-panoptic-semantic", location=m2f_panoptic)
    out = seglab.predict(model, coco_image, probabilities=True)
    assert isinstance(out, seglab.SemanticMap) and out.labels.shape == coco_image.shape[:2]
    assert out.class_names == dict(enumerate(PANOPTIC_NAMES)) and 0 <= out.labels.min() and out.labels.max() < 133
    np.testing.assert_allclose(out.probabilities.sum(0), 1.0, atol=1e-4)
    at_label = np.take_along_axis(out.probabilities, out.labels[None].astype(np.int64), 0)[0]
    assert (at_label >= out.probabilities.max(0) - 1e-5).all()  # the label is the most probable class (ties aside)


def test_mask2former_instance_uses_coco_category_ids(tmp_path, coco_image):
    model = seglab.load_model("mask2former-swin-tiny-coco-instance", location=_mask2former(tmp_path, THING_NAMES))
    out = seglab.predict(model, coco_image, threshold=0.3)
    assert isinstance(out, seglab.Masks) and len(out) > 0
    assert out.masks.shape[1:] == coco_image.shape[:2] and out.masks.dtype == bool
    assert set(out.labels.tolist()) <= {c.id for c in COCO_THING_CATEGORIES} and (out.scores >= 0.3).all()
    assert all(out.label_name(i) == out.class_names[int(out.labels[i])] for i in range(len(out)))
    empty = seglab.predict(model, coco_image, threshold=1.01)
    assert len(empty) == 0 and empty.masks.shape == (0, *coco_image.shape[:2]) and empty.note


def test_oneformer_panoptic_with_task_token(oneformer_coco, coco_image):
    model = seglab.load_model("oneformer-swin-large-coco", location=oneformer_coco)
    assert model.thing_labels == frozenset(range(80))  # from the processor's class metadata
    _check_panoptic(seglab.predict(model, coco_image), coco_image)


@pytest.mark.parametrize("task", ["semantic", "instance"])
def test_oneformer_other_tasks(oneformer_coco, coco_image, task):
    spec = dataclasses.replace(seglab.get_spec("oneformer-swin-large-coco"), task=task)
    out = UniversalSegmenter.load(spec, oneformer_coco).predict(coco_image, threshold=0.0)
    if task == "semantic":
        assert isinstance(out, seglab.SemanticMap) and out.labels.shape == coco_image.shape[:2]
    else:
        assert isinstance(out, seglab.Masks) and len(out) > 0 and out.masks.shape[1:] == coco_image.shape[:2]
        # one binary mask per detection (they may overlap), thing classes only: OneFormer's configs run panoptic too
        assert set(out.labels.tolist()) <= {c.id for c in COCO_THING_CATEGORIES}


def test_cityscapes_panoptic_model_gives_label_ids_and_fuses_stuff(tmp_path, coco_image):
    model = seglab.load_model("mask2former-swin-large-cityscapes-panoptic",
                              location=_mask2former(tmp_path, CITYSCAPES_NAMES))
    table = {c.id: c for c in CITYSCAPES}
    assert model.thing_labels == frozenset(range(11, 19))  # person .. bicycle
    out = seglab.predict(model, coco_image, threshold=0.0, mask_threshold=0.9)  # leaves the random model segments
    assert set(out.class_names) == set(table)
    for s in out.segments:
        assert s.isthing == table[s.category_id].isthing and out.class_names[s.category_id] == table[s.category_id].name
    stuff = [s.category_id for s in out.segments if not s.isthing]
    assert stuff and len(stuff) == len(set(stuff))  # one segment per stuff class ...
    model.thing_labels = None
    unfused = [s.category_id for s in seglab.predict(model, coco_image, threshold=0.0, mask_threshold=0.9).segments]
    assert len(unfused) > len(set(unfused))  # ... where, unfused, some class has several


def test_weights_of_another_label_set_keep_contiguous_ids(tmp_path, coco_image):
    names = [f"class {i}" for i in range(6)]  # not the 133 classes of the entry's label set
    model = seglab.load_model("mask2former-swin-tiny-coco-panoptic", location=_mask2former(tmp_path, names))
    out = seglab.predict(model, coco_image)
    assert out.class_names == dict(enumerate(names))
    assert all(0 <= s.category_id < 6 and s.isthing for s in out.segments)  # unknown thing/stuff: all things


def test_ade20k_model_gives_objectinfo150_ids(tmp_path, coco_image):
    ade = get_label_set("ade20k-150")
    spec = dataclasses.replace(seglab.get_spec("mask2former-swin-tiny-ade-semantic"), task="instance")
    out = UniversalSegmenter.load(spec, _mask2former(tmp_path, list(ade.names))).predict(coco_image, threshold=0.0)
    assert len(out) and set(out.class_names) == set(range(1, 151))  # 0 is ADE20K's 'other'
    assert all(out.label_name(i) == ade.names[int(out.labels[i]) - 1] for i in range(len(out)))
