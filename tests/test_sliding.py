"""mmseg's test-time resize and sliding windows (seglab.models.sliding) against line-by-line transcriptions of
mmseg / mmcv (tests/mmseg_reference.py), and the SegFormer adapter running its protocols end to end."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import mmseg_reference as ref
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

import seglab
from seglab.datasets import get_label_set
from seglab.models.hf_semantic import SegformerSemantic
from seglab.models.sliding import aligned_size, keep_ratio_resize, rescale_size, slide_logits, window_grid
from seglab.protocols import get_protocol

CITY = get_protocol("segformer-cityscapes-slide")
ADE = get_protocol("segformer-ade-512")
# mmseg's img_norm_cfg of the SegFormer configs (mean / std on 0..255, RGB)
MEAN, STD = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])


def _context_logits(num_classes: int = 3, seed: int = 0):
    """A random logits function whose output depends on the whole window (a padded conv plus the window's
    mean), so that windows, their overlap and their order all change the result."""
    g = torch.Generator().manual_seed(seed)
    conv = torch.randn(num_classes, 3, 3, 3, generator=g, dtype=torch.float64)
    mix = torch.randn(num_classes, 3, generator=g, dtype=torch.float64)

    def fn(crop: torch.Tensor) -> torch.Tensor:
        context = torch.einsum("kc,bc->bk", mix, crop.mean((2, 3)))[..., None, None]
        return F.conv2d(crop, conv, padding=1) + context

    return fn


def _recorded(fn):
    calls = []

    def wrapper(crop):
        calls.append(tuple(crop.shape[-2:]))
        return fn(crop)

    return wrapper, calls


@pytest.mark.parametrize("size, crop, stride", [
    ((37, 53), (64, 64), (48, 48)),      # smaller than the crop: one window, the whole image
    ((64, 128), (64, 64), (48, 48)),     # exactly one crop high
    ((65, 129), (64, 64), (48, 48)),     # one pixel more: the last window shifted back
    ((100, 61), (64, 64), (48, 48)),
    ((1, 200), (64, 32), (48, 24)),
    ((97, 211), (40, 50), (17, 33)),     # odd crops and strides
])
def test_slide_logits_equal_mmseg_slide_inference(size, crop, stride):
    pixels = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fn = _context_logits()
    ours_fn, ours_calls = _recorded(fn)
    ref_fn, ref_calls = _recorded(fn)
    ours = slide_logits(pixels, ours_fn, crop, stride)
    expected = ref.slide_inference(pixels, ref_fn, 3, crop, stride, ori_shape=size)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    assert ours_calls == ref_calls and len(ours_calls) == len(window_grid(*size, crop, stride))


def test_window_grid_on_a_cityscapes_frame():
    """1024 x 2048 with the official 1024 crop, stride 768: three windows, the last shifted back to x = 1024."""
    windows = window_grid(1024, 2048, CITY.crop, CITY.stride)
    assert windows == [(0, 1024, 0, 1024), (0, 1024, 768, 1792), (0, 1024, 1024, 2048)]
    fn, calls = _recorded(lambda crop: crop[:, :1])
    ref.slide_inference(torch.zeros(1, 3, 1024, 2048), fn, 1, CITY.crop, CITY.stride, ori_shape=(1024, 2048))
    assert calls == [(1024, 1024)] * 3


def test_window_grid_covers_every_pixel_and_stays_inside():
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = rng.integers(1, 300, 2)
        crop = tuple(int(c) for c in rng.integers(1, 80, 2))
        stride = tuple(int(rng.integers(1, c + 1)) for c in crop)
        count = np.zeros((h, w), int)
        for y1, y2, x1, x2 in window_grid(h, w, crop, stride):
            assert 0 <= y1 < y2 <= h and 0 <= x1 < x2 <= w
            assert (y2 - y1, x2 - x1) == (min(crop[0], h), min(crop[1], w))
            count[y1:y2, x1:x2] += 1
        assert count.min() >= 1


@pytest.mark.parametrize("stride", [(0, 4), (4, 5)])
def test_window_grid_rejects_a_stride_that_leaves_gaps(stride):
    with pytest.raises(ValueError, match="at most the crop"):
        window_grid(10, 10, (4, 4), stride)


@pytest.mark.parametrize("scale", [(2048, 512), (2048, 640), (2048, 1024), (512, 2048)])
def test_rescale_and_aligned_sizes_equal_mmcv(scale):
    rng = np.random.default_rng(0)
    sizes = [(480, 640), (512, 683), (1024, 2048), (375, 500), (1, 1), (3000, 7), (683, 512)]
    sizes += [tuple(int(v) for v in rng.integers(1, 4000, 2)) for _ in range(300)]
    for h, w in sizes:
        new_w, new_h = ref.rescale_size((w, h), scale)
        assert rescale_size(h, w, scale) == (new_h, new_w)
        assert aligned_size(new_h, new_w, 32) == (int(np.ceil(new_h / 32)) * 32, int(np.ceil(new_w / 32)) * 32)
        assert aligned_size(new_h, new_w, 0) == (new_h, new_w)


@pytest.mark.parametrize("shape", [(480, 640), (457, 301), (1024, 2048), (300, 300)])
def test_keep_ratio_resize_equals_aligned_resize_and_resize(shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    np.testing.assert_array_equal(keep_ratio_resize(image, (2048, 512), 32), ref.aligned_resize(image, (2048, 512), 32))
    np.testing.assert_array_equal(keep_ratio_resize(image, (2048, 1024)), ref.resize(image, (2048, 1024)))


# --- the adapter on a real image -------------------------------------------------------------------------

def _tiny_segformer(folder: Path, label_set: str, hub_size: int, reduce_labels: bool) -> Path:
    """A tiny random SegFormer with the label set's classes, saved with the Hub processor's settings:
    nvidia/segformer-b0-finetuned-ade-512-512's preprocessor_config.json says size 512 x 512 and
    do_reduce_labels true (its transformers-format copies on the Hub, optimum/ and Xenova/, carry the same
    file); the Cityscapes repos are named 1024-1024 and their processors say 1024 x 1024 (stretching every
    image to a square unless the adapter applies the protocol). Mean / std are ImageNet's (the defaults)."""
    torch.manual_seed(0)
    names = get_label_set(label_set).names
    config = SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
                             decoder_hidden_size=16, id2label=dict(enumerate(names)),
                             label2id={n: i for i, n in enumerate(names)})
    model = SegformerForSemanticSegmentation(config)
    with torch.no_grad():  # confident classes, so that ties never decide the argmax
        model.decode_head.classifier.weight.mul_(1000)
    model.save_pretrained(folder)
    SegformerImageProcessor(size={"height": hub_size, "width": hub_size},
                            do_reduce_labels=reduce_labels).save_pretrained(folder)
    return folder


def _oracle(model, image: np.ndarray, protocol) -> torch.Tensor:
    """mmseg's test path: the pipeline's resize and Normalize, then whole or slide inference and softmax
    (C x H x W probabilities; ``simple_test`` takes their argmax)."""
    if protocol.size_divisor:
        resized = ref.aligned_resize(image, protocol.size, protocol.size_divisor)
    else:
        resized = ref.resize(image, protocol.size)
    img = torch.from_numpy(((resized - MEAN) / STD).astype(np.float32)).permute(2, 0, 1)[None]

    def encode_decode(x):
        out = model(pixel_values=x).logits
        return F.interpolate(out, size=x.shape[2:], mode="bilinear", align_corners=False)

    with torch.inference_mode():
        if protocol.inference == "slide":
            logits = ref.slide_inference(img, encode_decode, model.config.num_labels, protocol.crop, protocol.stride,
                                         ori_shape=image.shape[:2])
        else:
            logits = F.interpolate(encode_decode(img), size=image.shape[:2], mode="bilinear", align_corners=False)
    return F.softmax(logits, dim=1)[0]


def _check_against_oracle(out, expected: torch.Tensor) -> None:
    """Probabilities as mmseg's, and its argmax wherever its two best classes are not tied within float32
    rounding (the processor normalises as (x / 255 - mean) / std, mmseg as (x - 255 mean) / (255 std))."""
    torch.testing.assert_close(torch.from_numpy(out.probabilities.copy()), expected, atol=1e-5, rtol=0)
    top2 = expected.topk(2, dim=0).values
    decided = (top2[0] - top2[1] > 1e-5).numpy()
    assert decided.mean() > 0.99
    np.testing.assert_array_equal(out.labels[decided], expected.argmax(0).numpy()[decided])


def _inputs(adapter) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    adapter.model.register_forward_pre_hook(lambda m, a, kw: shapes.append(tuple(kw["pixel_values"].shape)),
                                            with_kwargs=True)
    return shapes


def test_cityscapes_frame_runs_three_1024_windows(tmp_path, coco_image):
    frame = cv2.resize(coco_image, (2048, 1024), interpolation=cv2.INTER_LINEAR)  # a real photo, Cityscapes' size
    adapter = seglab.load_model("segformer-b0-cityscapes",
                                location=_tiny_segformer(tmp_path, "cityscapes-19", 1024, reduce_labels=False))
    inputs = _inputs(adapter)
    out = seglab.predict(adapter, frame)
    assert inputs == [(1, 3, 1024, 1024)] * 3 and out.labels.shape == (1024, 2048)


def test_cityscapes_protocol_on_a_coco_image_resizes_then_slides(tmp_path, coco_image):
    """480 x 640 fits (2048, 1024) at 1024 x 1365 (mmcv rounding): two 1024 x 1024 windows, not one square."""
    adapter = seglab.load_model("segformer-b0-cityscapes",
                                location=_tiny_segformer(tmp_path, "cityscapes-19", 1024, reduce_labels=False))
    inputs = _inputs(adapter)
    out = seglab.predict(adapter, coco_image, probabilities=True)
    h, w = rescale_size(*coco_image.shape[:2], CITY.size)
    assert len(inputs) == len(window_grid(h, w, CITY.crop, CITY.stride)) >= 2
    assert all(s == (1, 3, min(1024, h), min(1024, w)) for s in inputs)
    assert out.labels.shape == coco_image.shape[:2]
    _check_against_oracle(out, _oracle(adapter.model, coco_image, CITY))


def test_ade_protocol_keeps_the_aspect_and_rounds_to_32(tmp_path, coco_image):
    adapter = seglab.load_model("segformer-b0-ade",
                                location=_tiny_segformer(tmp_path, "ade20k-150", 512, reduce_labels=True))
    inputs = _inputs(adapter)
    out = seglab.predict(adapter, coco_image, probabilities=True)
    h, w = aligned_size(*rescale_size(*coco_image.shape[:2], ADE.size), 32)
    assert inputs == [(1, 3, h, w)] and (h, w) != (512, 512) and h % 32 == w % 32 == 0
    assert out.labels.shape == coco_image.shape[:2]
    _check_against_oracle(out, _oracle(adapter.model, coco_image, ADE))


def test_segformer_refuses_a_protocol_it_cannot_run(tmp_path):
    spec = dataclasses.replace(seglab.get_spec("segformer-b0-ade"), protocol="torchvision-voc-520")
    folder = _tiny_segformer(tmp_path, "ade20k-150", 512, reduce_labels=True)
    with pytest.raises(seglab.SeglabError, match="keep-ratio or fixed-size protocols, not 'torchvision-voc-520'"):
        SegformerSemantic.load(spec, folder)
