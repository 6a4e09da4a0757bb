"""SamPredictor on tiny random SAM / SAM-HQ / SAM 2 models built from the real configs and loaded
through the registry path (save_pretrained -> seglab.load_model(id, location=...))."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import seglab
from seglab import InvalidPromptError, Prompt
from seglab.cache import LRUCache
from seglab.models.sam import SamPredictor

FAMILY_IDS = {"sam": "sam-vit-base", "sam-hq": "sam-hq-vit-base", "sam2": "sam2.1-hiera-tiny"}
HIDDEN = 32
SIDE = 512  # the tiny models take 512 x 512 inputs (real ones 1024): low-res logits are SIDE / 4
LOW = SIDE // 4
# multimask outputs per prompt: SAM-HQ's official decoder keeps the best of SAM's three (plus its HQ mask)
MULTIMASK = {"sam": 3, "sam-hq": 1, "sam2": 3}


def tiny_sam(family: str) -> tuple[object, object]:
    """(model, processor) of a SAM family with a very small encoder and decoder, from the real config classes."""
    import transformers as tf
    from transformers.models.sam import configuration_sam as c1
    from transformers.models.sam2 import configuration_sam2 as c2
    from transformers.models.sam_hq import configuration_sam_hq as c3

    torch.manual_seed(0)
    decoder = dict(hidden_size=HIDDEN, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=HIDDEN)
    vit = dict(hidden_size=32, output_channels=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
               global_attn_indexes=[1], num_pos_feats=HIDDEN // 2, mlp_dim=64, image_size=SIDE)
    prompt = dict(hidden_size=HIDDEN, image_size=SIDE)
    sam_images = dict(size={"longest_edge": SIDE}, pad_size={"height": SIDE, "width": SIDE})
    if family == "sam":
        config = tf.SamConfig(vision_config=c1.SamVisionConfig(**vit),
                              prompt_encoder_config=c1.SamPromptEncoderConfig(**prompt),
                              mask_decoder_config=c1.SamMaskDecoderConfig(**decoder))
        return tf.SamModel(config), tf.SamProcessor(tf.SamImageProcessor(**sam_images))
    if family == "sam-hq":
        config = tf.SamHQConfig(vision_config=c3.SamHQVisionConfig(**vit),
                                prompt_encoder_config=c3.SamHQPromptEncoderConfig(**prompt),
                                mask_decoder_config=c3.SamHQMaskDecoderConfig(**decoder, vit_dim=32))
        return tf.SamHQModel(config), tf.SamHQProcessor(tf.SamImageProcessor(**sam_images))
    hiera = c2.Sam2HieraDetConfig(hidden_size=8, blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[8, 16, 32, 64],
                                  num_attention_heads_per_stage=[1, 1, 1, 1], global_attention_blocks=[3],
                                  image_size=[SIDE, SIDE])
    config = tf.Sam2Config(
        vision_config=c2.Sam2VisionConfig(backbone_config=hiera, backbone_channel_list=[64, 32, 16, 8],
                                          backbone_feature_sizes=[[SIDE // 4] * 2, [SIDE // 8] * 2, [SIDE // 16] * 2],
                                          fpn_hidden_size=HIDDEN),
        prompt_encoder_config=c2.Sam2PromptEncoderConfig(**prompt),
        mask_decoder_config=c2.Sam2MaskDecoderConfig(**decoder))
    return tf.Sam2Model(config), tf.Sam2Processor(tf.Sam2ImageProcessor(size={"height": SIDE, "width": SIDE}))


def save_tiny(family: str, folder: Path) -> Path:
    model, processor = tiny_sam(family)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-sam")
    return {f: save_tiny(f, root / f) for f in FAMILY_IDS}


@pytest.fixture(scope="module", params=list(FAMILY_IDS))
def predictor(request, tiny_dirs) -> SamPredictor:
    return seglab.load_model(FAMILY_IDS[request.param], location=tiny_dirs[request.param])


@pytest.fixture(scope="module")
def sam(tiny_dirs) -> SamPredictor:
    return seglab.load_model("sam-vit-base", location=tiny_dirs["sam"])


def test_loads_through_registry_as_sam_predictor(predictor):
    assert isinstance(predictor, SamPredictor)
    assert predictor.spec.id == FAMILY_IDS[predictor.spec.family]


def test_single_click_gives_the_multimask_outputs_sorted_in_image_coordinates(predictor, coco_image):
    out = seglab.predict(predictor, coco_image, Prompt.build(points=[(320, 200)]))
    n = MULTIMASK[predictor.spec.family]
    assert len(out) == n
    assert out.image_size == coco_image.shape[:2]
    assert out.logits.shape == (n, LOW, LOW)
    assert np.all(np.diff(out.scores) <= 0)


def test_box_gives_one_mask_per_box(predictor, coco_image):
    one = predictor.predict(coco_image, Prompt.build(box=[50, 60, 300, 400]))
    two = predictor.predict(coco_image, Prompt.build(points=[(100, 100)],
                                                     boxes=[[50, 60, 300, 400], [320, 10, 600, 300]]))
    assert (len(one), len(two)) == (1, 2)
    multi = predictor.predict(coco_image, Prompt.build(box=[50, 60, 300, 400]), multimask_output=True)
    assert len(multi) == MULTIMASK[predictor.spec.family]


def test_several_points_give_one_mask(predictor, coco_image):
    out = predictor.predict(coco_image, Prompt.build(points=[(100, 100), (400, 300)], labels=[1, 0]))
    assert len(out) == 1


def test_region_prompt_and_logits_feedback(predictor, coco_image):
    region = np.zeros(coco_image.shape[:2], bool)
    region[100:250, 200:400] = True
    first = seglab.predict(predictor, coco_image, Prompt.build(region=region))
    assert len(first) == 1 and first.masks.shape[1:] == coco_image.shape[:2]
    again = predictor.predict(coco_image, Prompt.build(points=[(300, 180), (50, 50)], labels=[1, 0]),
                              mask_input=first.logits[0])
    assert len(again) == 1
    with pytest.raises(InvalidPromptError, match="low-resolution"):
        predictor.predict(coco_image, Prompt.build(points=[(300, 180)]), mask_input=np.zeros((64, 64)))


def test_region_becomes_low_res_logits_where_the_region_is(sam, coco_image):
    emb = sam.embed(coco_image)
    region = np.zeros(coco_image.shape[:2], bool)
    region[:, :320] = True  # left half of a 640 x 427 image
    low = sam.region_to_mask_input(emb, region)
    assert low.shape == (LOW, LOW)
    # SAM keeps the aspect ratio: the image fills the top LOW x ~85 rows, the rest is padding
    rows = int(LOW * 427 / 640)
    assert (low[:rows - 1, :LOW // 2 - 1] > 0).all() and (low[:rows - 1, LOW // 2 + 1:] < 0).all()
    assert (low[rows + 2:] < 0).all()


@pytest.mark.parametrize("family", ["sam", "sam2"])
def test_point_coordinates_match_the_processor_on_a_non_square_image(family, tiny_dirs, coco_image):
    pred = seglab.load_model(FAMILY_IDS[family], location=tiny_dirs[family])
    h, w = coco_image.shape[:2]
    pts = np.array([[0, 0], [w / 2, h / 2], [w - 1, h - 1], [123.5, 45.25]], np.float32)
    got = pred.embed(coco_image).to_input(pts)
    ref = pred.processor(images=coco_image, input_points=[[pts.tolist()]], return_tensors="pt")["input_points"]
    np.testing.assert_allclose(got, ref.reshape(-1, 2).numpy(), rtol=1e-5)
    if family == "sam":  # longest side 640 -> SIDE, aspect kept, image at the top-left of the pad
        new_h = int(h * SIDE / w + 0.5)
        np.testing.assert_allclose(got[1], [SIDE / 2, h / 2 * new_h / h], rtol=1e-5)
    else:  # SAM 2 stretches the image to the square input
        np.testing.assert_allclose(got[1], [SIDE / 2, SIDE / 2], rtol=1e-5)


def test_the_image_is_scaled_on_the_device_to_the_processors_pixel_values_bit_for_bit(predictor, coco_image,
                                                                                       monkeypatch):
    seen = []
    monkeypatch.setattr(predictor, "family", replace(predictor.family, embed=lambda model, x: seen.append(x) or {}))
    predictor._encode(coco_image, ("test", "pixels"))
    assert torch.equal(seen[0], predictor.processor(images=coco_image, return_tensors="pt")["pixel_values"])
    assert predictor.family.scale_on_device == (predictor.family.model != "Sam2Model")


def test_upscaled_masks_agree_with_the_processor_post_processing(predictor, coco_image):
    emb = predictor.embed(coco_image)
    logits = torch.randn(2, 3, 16, 16)
    logits = torch.nn.functional.interpolate(logits, size=(LOW, LOW), mode="bilinear")  # smooth, like real logits
    ours = predictor.upscale_logits(emb, logits) > 0
    sizes = [coco_image.shape[:2]]
    if predictor.spec.family == "sam2":
        ref = predictor.processor.post_process_masks(logits[None], sizes)[0]
    else:
        ref = predictor.processor.post_process_masks(logits[None], sizes, [emb.input_size])[0]
    assert ours.shape == ref.shape == (2, 3, *coco_image.shape[:2])
    assert (ours == ref).float().mean() > 0.995


def test_a_low_res_pixel_maps_back_to_its_place_in_the_image(sam, coco_image):
    emb = sam.embed(coco_image)
    h, w = coco_image.shape[:2]
    logits = torch.full((1, LOW, LOW), -20.0)
    logits[0, 50, 100] = 20.0  # low-res pixel centre (100.5, 50.5) * 4 = (402, 202) in the SIDE x SIDE input
    mask = (sam.upscale_logits(emb, logits) > 0)[0].numpy()
    ys, xs = np.nonzero(mask)
    scale = w / SIDE  # SAM keeps the aspect ratio: the input is the image scaled by SIDE / 640
    assert abs(xs.mean() + 0.5 - 402 * scale) < 1.0 and abs(ys.mean() + 0.5 - 202 * scale) < 1.0


def test_embedding_is_cached_per_image_content(tiny_dirs, coco_image):
    pred = SamPredictor.load(seglab.get_spec("sam-vit-base"), tiny_dirs["sam"])
    click = Prompt.build(points=[(320, 200)])
    pred.predict(coco_image, click)
    pred.predict(coco_image.copy(), click)  # same content, another array object: a hit
    assert (pred.cache.misses, pred.cache.hits) == (1, 1)
    changed = coco_image.copy()
    changed[0, 0] ^= 1  # one pixel differs: a different key, a fresh embedding
    assert pred.embed(changed).key != pred.embed(coco_image).key
    assert pred.cache.misses == 2


def test_cache_evicts_by_bytes(tiny_dirs, coco_image):
    spec = seglab.get_spec("sam-vit-base")
    pred = SamPredictor.load(spec, tiny_dirs["sam"])
    size = pred.embed(coco_image).nbytes
    small = SamPredictor(spec, pred.model, pred.processor, "cpu", pred.dtype, cache=LRUCache(int(size * 1.5)))
    first = small.embed(coco_image).key
    second = small.embed(coco_image[::-1].copy()).key
    assert len(small.cache) == 1 and second in small.cache and first not in small.cache
    assert small.cache.total_size <= small.cache.max_size


def test_points_batch_runs_one_decoder_call_for_many_points(predictor, coco_image):
    emb = predictor.embed(coco_image)
    points = np.array([[10, 10], [320, 200], [630, 420], [5, 400]])
    logits, iou = predictor.predict_points_batch(emb, points)
    n = MULTIMASK[predictor.spec.family]
    assert tuple(logits.shape) == (4 * n, LOW, LOW) and tuple(iou.shape) == (4 * n,)
    one = predictor.predict(coco_image, Prompt.build(points=[points[1]]), multimask_output=True)
    np.testing.assert_allclose(np.sort(iou[n:2 * n].numpy()), np.sort(one.scores), atol=1e-4)
    threshold = float(iou.median())
    kept_logits, kept = predictor.predict_points_batch(emb, points, min_iou=threshold)
    torch.testing.assert_close(kept, iou[iou > threshold])
    torch.testing.assert_close(kept_logits, logits[iou > threshold], atol=1e-4, rtol=1e-4)


def test_concurrent_users_get_their_own_masks(sam, coco_image):
    other = np.ascontiguousarray(coco_image[:, ::-1])
    jobs = [(coco_image, (100, 100)), (other, (500, 300)), (coco_image, (400, 200)), (other, (50, 50))]
    expected = [sam.predict(img, Prompt.build(points=[p])).masks for img, p in jobs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda job: sam.predict(job[0], Prompt.build(points=[job[1]])).masks, jobs))
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_bfloat16_runs(tiny_dirs, coco_image):
    pred = seglab.load_model("sam-vit-base", dtype="bfloat16", location=tiny_dirs["sam"])
    assert pred.dtype == torch.bfloat16
    out = pred.predict(coco_image, Prompt.build(box=[50, 60, 300, 400]))
    assert len(out) == 1 and out.logits.dtype == np.float32


@pytest.mark.parametrize("prompt, message", [
    (Prompt(), "no prompt"),
    (Prompt.build(points=[(700, 10)]), "outside"),
    (Prompt.build(box=[10, 10, 10, 200]), "zero area"),
])
def test_bad_prompts_are_clear_errors(sam, coco_image, prompt, message):
    with pytest.raises(InvalidPromptError, match=message):
        seglab.predict(sam, coco_image, prompt)
