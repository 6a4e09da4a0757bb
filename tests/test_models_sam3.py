"""SAM 3: a tiny random checkpoint in facebook/sam3's layout (Sam3VideoModel: detector + tracker sharing
one backbone) with a tiny CLIP tokenizer, saved and loaded through ``seglab.load_model(location=...)``."""
from __future__ import annotations

import numpy as np
import pytest

import seglab
from seglab import InvalidPromptError, Masks, Prompt

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_models_text_sam import WORDS, write_clip_tokenizer  # noqa: E402  (needs torch: after the skips)

SIDE = 224  # tiny input side: 16 x 16 patches of 14 px


def tiny_sam3_config(vocab_size: int):
    from transformers import (
        Sam3Config,
        Sam3DETRDecoderConfig,
        Sam3DETREncoderConfig,
        Sam3GeometryEncoderConfig,
        Sam3MaskDecoderConfig,
        Sam3VideoConfig,
        Sam3VisionConfig,
        Sam3ViTConfig,
    )
    from transformers.models.sam3_tracker_video import Sam3TrackerVideoConfig

    h, heads, ffn = 32, 4, 64
    vit = Sam3ViTConfig(hidden_size=h, num_hidden_layers=2, num_attention_heads=heads, intermediate_size=ffn,
                        image_size=SIDE, patch_size=14, window_size=8, global_attn_indexes=[1],
                        pretrain_image_size=SIDE)
    sizes = [[64, 64], [32, 32], [16, 16]]
    detector = Sam3Config(
        vision_config=Sam3VisionConfig(backbone_config=vit, fpn_hidden_size=h, scale_factors=[4.0, 2.0, 1.0, 0.5],
                                       backbone_feature_sizes=sizes),
        text_config={"vocab_size": vocab_size, "hidden_size": h, "intermediate_size": ffn, "projection_dim": h,
                     "num_hidden_layers": 1, "num_attention_heads": heads, "max_position_embeddings": 32},
        geometry_encoder_config=Sam3GeometryEncoderConfig(hidden_size=h, num_layers=1, num_attention_heads=heads,
                                                          intermediate_size=ffn),
        detr_encoder_config=Sam3DETREncoderConfig(hidden_size=h, num_layers=1, num_attention_heads=heads,
                                                  intermediate_size=ffn),
        detr_decoder_config=Sam3DETRDecoderConfig(hidden_size=h, num_layers=1, num_queries=8,
                                                  num_attention_heads=heads, intermediate_size=ffn),
        mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=h, num_upsampling_stages=2, num_attention_heads=heads))
    tracker = Sam3TrackerVideoConfig(
        vision_config=Sam3VisionConfig(backbone_config=vit, fpn_hidden_size=h, scale_factors=[4.0, 2.0, 1.0],
                                       backbone_feature_sizes=sizes),
        image_size=SIDE, prompt_encoder_config={"hidden_size": h, "image_size": SIDE, "patch_size": 14},
        mask_decoder_config={"hidden_size": h, "num_attention_heads": heads, "mlp_dim": ffn, "iou_head_hidden_dim": h},
        memory_attention_hidden_size=h, memory_attention_num_layers=1, memory_attention_feed_forward_hidden_size=ffn,
        memory_encoder_hidden_size=h, memory_encoder_output_channels=16, mask_downsampler_embed_dim=h,
        memory_fuser_embed_dim=h, memory_fuser_intermediate_dim=ffn, memory_fuser_num_layers=1)
    return Sam3VideoConfig(detector_config=detector, tracker_config=tracker)


@pytest.fixture(scope="module")
def sam3(tmp_path_factory):
    from transformers import Sam3ImageProcessor, Sam3Processor, Sam3VideoModel

    root = tmp_path_factory.mktemp("sam3")
    tokenizer = write_clip_tokenizer(root, WORDS)
    torch.manual_seed(0)
    Sam3VideoModel(tiny_sam3_config(len(tokenizer.get_vocab()))).save_pretrained(root)
    image_processor = Sam3ImageProcessor(size={"height": SIDE, "width": SIDE}, mask_size={"height": 64, "width": 64})
    Sam3Processor(image_processor, tokenizer).save_pretrained(root)
    return seglab.load_model("sam3", device="cpu", location=root)


def count_calls(monkeypatch, owner, name) -> list[int]:
    calls = [0]
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_checkpoint_loads_both_models_on_one_backbone(sam3):
    assert sam3.tracker.vision_encoder.backbone is sam3.model.vision_encoder.backbone
    # the tracker's own weights were loaded, not left at their fresh initialisation
    assert not torch.all(sam3.tracker.mask_decoder.iou_token.weight == 0)


def test_text_returns_every_instance_with_phrase_labels(sam3, coco_image):
    result = seglab.predict(sam3, coco_image, Prompt.build(text="cat. dog."), threshold=0.0)
    assert isinstance(result, Masks)
    assert result.image_size == coco_image.shape[:2] == (427, 640)
    assert result.class_names == {0: "cat", 1: "dog"}
    queries = sam3.model.config.detr_decoder_config.num_queries
    assert len(result) == 2 * queries  # threshold 0: every query of both phrases
    assert set(result.labels.tolist()) == {0, 1}
    assert list(result.scores) == sorted(result.scores, reverse=True)
    assert result.note == ""


def test_threshold_is_applied(sam3, coco_image):
    everything = seglab.predict(sam3, coco_image, Prompt.build(text="cat"), threshold=0.0)
    cut = float(np.median(everything.scores))
    kept = seglab.predict(sam3, coco_image, Prompt.build(text="cat"), threshold=cut)
    assert len(kept) == int((everything.scores > cut).sum())
    assert (kept.scores > cut).all()


def test_nothing_above_threshold_is_an_empty_result_with_a_note(sam3, coco_image):
    result = seglab.predict(sam3, coco_image, Prompt.build(text="zebra"), threshold=1.0)
    assert len(result) == 0 and result.image_size == (427, 640)
    assert "no 'zebra' found above score 1.00" in result.note and "lower the threshold" in result.note


def test_text_with_example_boxes_reaches_the_geometry_encoder(sam3, coco_image, monkeypatch):
    seen = []
    forward = sam3.model.forward

    def recording(*args, **kwargs):
        seen.append(kwargs.get("input_boxes"))
        return forward(*args, **kwargs)

    monkeypatch.setattr(sam3.model, "forward", recording)
    result = seglab.predict(sam3, coco_image, Prompt.build(text="cat", box=[64, 100, 320, 300]), threshold=0.0)
    assert isinstance(result, Masks) and len(result) > 0
    h, w = coco_image.shape[:2]
    expected = [(64 + 320) / 2 / w, (100 + 300) / 2 / h, 256 / w, 200 / h]  # normalised cx, cy, w, h
    assert np.allclose(seen[0][0, 0].numpy(), expected, atol=1e-5)


def test_repeated_prompts_on_one_image_skip_the_encoder(sam3, coco_image, monkeypatch):
    sam3.cache.clear()
    detector = count_calls(monkeypatch, sam3.model, "get_vision_features")
    tracker = count_calls(monkeypatch, sam3.tracker, "get_image_embeddings")
    for text in ("cat", "dog", "cat. dog."):
        seglab.predict(sam3, coco_image, Prompt.build(text=text), threshold=0.5)
    for x in (100, 200):
        seglab.predict(sam3, coco_image, Prompt.build(points=[(x, 150)]))
    assert detector[0] == 1 and tracker[0] == 1
    seglab.predict(sam3, coco_image[:, ::-1].copy(), Prompt.build(text="cat"))  # another image: a fresh embedding
    assert detector[0] == 2


def test_points_and_boxes_go_to_the_tracker_in_image_coordinates(sam3, coco_image, monkeypatch):
    seen = {}
    forward = sam3.tracker.forward

    def recording(*args, **kwargs):
        seen.update(kwargs)
        return forward(*args, **kwargs)

    monkeypatch.setattr(sam3.tracker, "forward", recording)
    click = seglab.predict(sam3, coco_image, Prompt.build(points=[(320, 200)]))
    assert len(click) == 3 and click.image_size == (427, 640)  # one lone click: three candidate masks
    assert click.logits is not None and len(click.logits) == 3
    h, w = coco_image.shape[:2]
    assert np.allclose(seen["input_points"][0, 0, 0].numpy(), [320 * SIDE / w, 200 * SIDE / h], atol=1e-3)

    boxes = seglab.predict(sam3, coco_image, Prompt.build(boxes=[[10, 20, 200, 220], [300, 100, 600, 400]]))
    assert len(boxes) == 2 and boxes.image_size == (427, 640)  # one mask per box
    assert np.allclose(seen["input_boxes"][0, 1].numpy(),
                       [300 * SIDE / w, 100 * SIDE / h, 600 * SIDE / w, 400 * SIDE / h], atol=1e-3)


def test_bad_prompts_raise_clear_errors(sam3, coco_image):
    with pytest.raises(InvalidPromptError, match="text prompt is empty"):
        seglab.predict(sam3, coco_image, Prompt(text=" "))
    with pytest.raises(InvalidPromptError, match="not with points"):
        seglab.predict(sam3, coco_image, Prompt.build(text="cat", points=[(10, 10)]))


def test_hub_weights_run_with_the_official_vit_layer_norm_eps(sam3):
    """transformers' Sam3ViTConfig says 1e-6; the official ViT (sam3/model/vitdet.py) uses 1e-5."""
    norms = [m for m in sam3.model.vision_encoder.backbone.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(m.eps == 1e-5 for m in norms)
    assert len(sam3.tracker.vision_encoder.neck.fpn_layers) == 3
