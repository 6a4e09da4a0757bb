"""SAM ViT-B and SAM-HQ ViT-B in seglab against the official code (segment-anything 1.0, segment-anything-hq 0.3)
with the same weights: official models built with random weights by their own builders, saved with
``torch.save`` as an official ``.pth``, loaded through ``seglab.load_model(..., location=path)``.

The decoder's output layers are scaled so that mask logits spread (std ~5) and predicted IoUs differ:
random init leaves logits near 0, where float rounding alone would flip pixels (the models come from
``benchmarks.sam_official``, shared with the speed comparison). The full ViT-B, with the real decoder, is
compared on one image with every prompt kind. The six images (preprocessing, prompt transforms and mask
post-processing at each size) and segment everything run on the official modules put together with a 2-block
ViT and a 32-wide decoder: on CPU the ViT-B encoder costs seconds per image and the real decoder ~3 GFLOP per
prompt, which would take minutes of the suite.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import seglab
from benchmarks.sam_official import OFFICIAL, build_official
from seglab.checkpoints import convert_official, load_official
from seglab.everything import EverythingParams, segment_everything

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL_IDS = {"sam": "sam-vit-base", "sam-hq": "sam-hq-vit-base"}
MAX_PIXEL_DIFF = 1e-3  # fraction of pixels of a mask at the original resolution
MAX_SCORE_DIFF = 1e-4


def official(family: str) -> Any:
    return pytest.importorskip(OFFICIAL[family], reason=f"the official {family} package (requirements-dev.txt)")


@dataclass
class Pair:
    """The official predictor and seglab's adapter on the same weights."""

    family: str
    official: Any
    ours: Any
    path: Path


def make_pair(family: str, size: str, folder: Path) -> Pair:
    official(family)  # skip with the reason when the package is absent
    model = build_official(family, size)
    path = folder / f"{family}-{size}.pth"
    torch.save(model.state_dict(), path)
    ours = seglab.load_model(MODEL_IDS[family], location=path)
    return Pair(family, official(family).SamPredictor(model), ours, path)


@pytest.fixture(scope="module", params=list(OFFICIAL))
def pair(request, tmp_path_factory) -> Pair:
    return make_pair(request.param, "small", tmp_path_factory.mktemp("official"))


# --- real images: the shared COCO slice and the repo's examples, resized / cropped here -------------------
def _read(path: Path) -> np.ndarray:
    return seglab.load_image(path)


def _resized(path: Path, long_side: int) -> np.ndarray:
    im = Image.open(path).convert("RGB")
    scale = long_side / max(im.size)
    return np.asarray(im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC))


IMAGES = {
    "coco-landscape": lambda root: _read(root / "val2017" / "000000397133.jpg"),  # 640 x 427
    "coco-portrait": lambda root: _read(root / "val2017" / "000000006818.jpg"),  # 427 x 640
    "example": lambda root: _read(EXAMPLES / "000000286994.jpg"),  # 640 x 480
    "small": lambda root: _resized(EXAMPLES / "000000555705.jpg", 200),  # 200 x 116
    "large": lambda root: _resized(EXAMPLES / "000000418281.jpg", 2000),  # 2000 x 1334
    "odd": lambda root: np.ascontiguousarray(_read(EXAMPLES / "000000418281.jpg")[11:344, 37:538]),  # 501 x 333
}


@pytest.fixture(scope="module")
def images(coco_root) -> dict[str, np.ndarray]:
    return {name: load(coco_root) for name, load in IMAGES.items()}


# --- prompts, relative to the image size; (official predict kwargs, seglab prompt, multimask) -------------
def prompts(h: int, w: int) -> dict[str, tuple[dict[str, Any], seglab.Prompt, bool]]:
    point, neg = [0.45 * w, 0.55 * h], [0.8 * w, 0.3 * h]
    box = [0.2 * w, 0.25 * h, 0.7 * w, 0.8 * h]
    inside, outside = [0.4 * w, 0.5 * h], [0.25 * w, 0.3 * h]
    cases = {
        "point-multimask": ([point], [1], None, True),
        "point-single": ([point], [1], None, False),
        "pos+neg": ([point, neg], [1, 0], None, False),
        "box": (None, None, box, False),
        "box-multimask": (None, None, box, True),
        "box+points": ([inside, outside], [1, 0], box, False),
    }
    out = {}
    for name, (pts, labels, b, multi) in cases.items():
        kw: dict[str, Any] = {"multimask_output": multi}
        if pts:
            kw.update(point_coords=np.array(pts), point_labels=np.array(labels))
        if b:
            kw["box"] = np.array(b)
        out[name] = (kw, seglab.Prompt.build(points=[tuple(p) for p in pts] if pts else None,
                                             labels=labels, box=b), multi)
    return out


def compare(official_out: tuple, ours: seglab.Masks) -> tuple[float, float]:
    """(max pixel-diff fraction, max score difference) between the official (masks, scores, low-res) and
    seglab's masks in the same order; asserts the counts agree."""
    masks, scores, _ = official_out
    assert ours.masks.shape == masks.shape
    return float((ours.masks != masks).mean((1, 2)).max()), float(np.abs(ours.scores - scores).max())


@pytest.fixture(scope="module")
def outcomes(pair, images) -> dict[tuple[str, str], tuple[tuple, seglab.Masks, seglab.Masks]]:
    """Per (image, prompt case): the official output, seglab's masks in decoder order (``segment``) and
    seglab's public ``predict`` output (best first). Each image is embedded once per implementation."""
    out = {}
    for name, image in images.items():
        h, w = image.shape[:2]
        pair.official.set_image(image)
        embedding = pair.ours.embed(image)
        for case, (kw, prompt, multi) in prompts(h, w).items():
            ref = pair.official.predict(**kw)
            ordered = pair.ours.segment(embedding, prompt.validated(h, w), multimask_output=multi)
            # the public call sorts best first: only a multimask answer can come back in another order
            best_first = seglab.predict(pair.ours, image, prompt, multimask_output=True) if multi else ordered
            out[name, case] = ref, ordered, best_first
        # refinement: the best mask's low-res logits fed back with the same click, single output
        kw, prompt, _ = prompts(h, w)["point-multimask"]
        _, scores, low = out[name, "point-multimask"][0]
        previous = out[name, "point-multimask"][2].logits[0]
        ref = pair.official.predict(point_coords=kw["point_coords"], point_labels=kw["point_labels"],
                                    mask_input=low[np.argmax(scores)][None], multimask_output=False)
        ours = seglab.predict(pair.ours, image, prompt, multimask_output=False, mask_input=previous)
        out[name, "refine"] = ref, ours, ours
    return out


CASES = [*prompts(100, 100), "refine"]


@pytest.mark.parametrize("image", list(IMAGES))
@pytest.mark.parametrize("case", CASES)
def test_masks_and_scores_equal_the_official_predictor(outcomes, image, case):
    ref, ordered, best_first = outcomes[image, case]
    pixels, scores = compare(ref, ordered)
    assert pixels <= MAX_PIXEL_DIFF and scores <= MAX_SCORE_DIFF
    order = np.argsort(-ref[1], kind="stable")  # the public predict: best predicted IoU first
    pixels, scores = compare((ref[0][order], ref[1][order], None), best_first)
    assert pixels <= MAX_PIXEL_DIFF and scores <= MAX_SCORE_DIFF


def test_the_comparison_is_not_trivial(outcomes):
    """Logits spread (std of a few units, 1e5 times the float error), masks neither empty nor full, multimask
    outputs differ from each other."""
    low = np.concatenate([o[1].logits.ravel() for o in outcomes.values()])
    assert 1.0 < low.std() < 20.0
    cover = np.array([o[0][0].mean() for o in outcomes.values()])
    assert 0.02 < np.median(cover) < 0.98
    multi = [o[0][1] for (_, case), o in outcomes.items() if case == "point-multimask"]
    assert all(len(np.unique(s)) == len(s) for s in multi)


# --- the real ViT-B encoder, one image ------------------------------------------------------------------
@pytest.mark.parametrize("family", list(OFFICIAL))
def test_vit_b_encoder_and_masks_equal_the_official(family, tmp_path, coco_image):
    vit_b = make_pair(family, "vit_b", tmp_path)
    assert vit_b.ours.model.config.vision_config.hidden_size == 768
    h, w = coco_image.shape[:2]
    vit_b.official.set_image(coco_image)
    embedding = vit_b.ours.embed(coco_image)
    ref = vit_b.official.features.numpy()
    got = embedding.features["image_embeddings"].numpy()
    assert np.abs(got - ref).max() <= 1e-3 * np.abs(ref).max()
    for kw, prompt, multi in prompts(h, w).values():
        pixels, scores = compare(vit_b.official.predict(**kw),
                                 vit_b.ours.segment(embedding, prompt.validated(h, w), multimask_output=multi))
        assert pixels <= MAX_PIXEL_DIFF and scores <= MAX_SCORE_DIFF


# --- segment everything -------------------------------------------------------------------------------------
# NMS off and thresholds lowered so that hundreds of random-weight masks survive (random masks are fragmented
# over the whole image: their boxes all cover it, so box NMS would leave one); then both filters on
EVERYTHING = {
    "filters-off": dict(points_per_side=10, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0),
    "filters-on": dict(points_per_side=10, pred_iou_thresh=0.05, stability_score_thresh=0.2, box_nms_thresh=1.0),
}


def pairwise_iou(a: np.ndarray, b: np.ndarray, at_least: float) -> np.ndarray:
    """IoU of every pair of (N, H, W) / (M, H, W) bool masks that can reach ``at_least`` (their areas within
    that ratio), 0 for the others; exact, on bit-packed masks (pycocotools' RLE IoU of all pairs of
    fragmented random-weight masks takes minutes)."""
    packed_a, packed_b = np.packbits(a.reshape(len(a), -1), axis=1), np.packbits(b.reshape(len(b), -1), axis=1)
    area_a, area_b = a.sum((1, 2)), b.sum((1, 2))
    iou = np.zeros((len(a), len(b)))
    for i in range(len(a)):
        near = np.flatnonzero(np.minimum(area_a[i], area_b) >= at_least * np.maximum(area_a[i], area_b))
        inter = np.bitwise_count(packed_a[i] & packed_b[near]).sum(1)
        union = area_a[i] + area_b[near] - inter
        iou[i, near] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return iou


@pytest.mark.parametrize("setting", list(EVERYTHING))
def test_segment_everything_equals_the_official_generator(pair, images, setting):
    assert_same_everything(pair, images["small"], EVERYTHING[setting])  # the official RLE loop is slow


def test_segment_everything_with_the_real_decoder_equals_the_official_generator(tmp_path, images):
    """SAM's real-size mask decoder (seglab's regrouped point decoder, models/sam_points.py) at the default
    predicted-IoU filter, which leaves some prompts with no output to upscale."""
    pair = make_pair("sam", "small-vit", tmp_path)
    assert_same_everything(pair, images["small"], dict(points_per_side=6, stability_score_thresh=0.2,
                                                       box_nms_thresh=1.0))


def assert_same_everything(pair: Pair, image: np.ndarray, params: dict[str, Any]) -> None:
    """The official generator's masks and seglab's, matched one to one at IoU >= 0.99, scores equal."""
    from pycocotools import mask as mask_utils
    from scipy.optimize import linear_sum_assignment

    generator = official(pair.family).SamAutomaticMaskGenerator(pair.official.model, output_mode="coco_rle",
                                                                 **params)
    ref = generator.generate(image)
    ours = segment_everything(pair.ours, image, EverythingParams(**params)).masks
    assert len(ours) == len(ref) >= 20
    ref_masks = mask_utils.decode([r["segmentation"] for r in ref]).transpose(2, 0, 1).astype(bool)
    iou = pairwise_iou(ref_masks, ours.masks, 0.99)
    rows, cols = linear_sum_assignment(-iou)
    assert iou[rows, cols].min() >= 0.99
    scores = np.array([r["predicted_iou"] for r in ref])
    assert np.abs(scores[rows] - ours.scores[cols]).max() <= MAX_SCORE_DIFF


# --- the checkpoint bridge ------------------------------------------------------------------------------------
def test_converted_keys_are_exactly_the_transformers_models(pair):
    official_keys = set(torch.load(pair.path, weights_only=True))
    converted = convert_official(pair.path, pair.family)
    assert set(converted) == set(pair.ours.model.state_dict())
    assert len(official_keys) == len(converted) - 1  # transformers keeps the Fourier matrix twice


def test_vit_size_is_read_from_the_checkpoint(pair):
    vision = pair.ours.model.config.vision_config
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads) == (64, 2, 2)
    assert list(vision.global_attn_indexes) == [1]
    assert pair.ours.model.config.mask_decoder_config.hidden_size == 32


@pytest.mark.parametrize("damage, message", [
    (lambda sd: {**sd, "mask_decoder.extra.weight": torch.zeros(1)}, "unexpected key 'mask_decoder.extra.weight'"),
    (lambda sd: {k: v for k, v in sd.items() if "iou_token" not in k}, "'mask_decoder.iou_token.weight' is missing"),
    (lambda sd: {**sd, "prompt_encoder.not_a_point_embed.weight": torch.zeros(1, 8)},
     r"'prompt_encoder.not_a_point_embed.weight' has shape \(1, 8\), Sam(HQ)?Model expects \(1, 32\)"),
])
def test_bad_checkpoints_are_one_clear_error(pair, tmp_path, damage, message):
    bad = tmp_path / "bad.pth"
    torch.save(damage(torch.load(pair.path, weights_only=True)), bad)
    with pytest.raises(seglab.WeightsUnavailableError, match=message) as err:
        load_official(bad, pair.family)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_files_that_are_not_checkpoints_are_one_clear_error(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    for path, message in [(junk, "not a readable PyTorch checkpoint"), (tmp_path / "absent.pt", "no such")]:
        with pytest.raises(seglab.WeightsUnavailableError, match=message):
            seglab.load_model("sam-vit-base", location=path)


# --- SAM's whole / part / subpart ---------------------------------------------------------------------------
@pytest.mark.parametrize("image", ["coco-landscape", "odd"])
def test_each_level_is_the_official_multimask_output_of_that_size(pair, images, image):
    """``level=`` returns, for a click and for a box, the official predictor's multimask mask whose area ranks
    first (whole), second (part) or third (subpart), with its score."""
    from seglab.levels import LEVELS

    array = images[image]
    h, w = array.shape[:2]
    pair.official.set_image(array)
    for case in ("point-multimask", "box-multimask"):
        kw, prompt, _ = prompts(h, w)[case]
        masks, scores, _ = pair.official.predict(**kw)
        if len(masks) != len(LEVELS):
            pytest.skip(f"{pair.family} answers a multimask prompt with {len(masks)} masks, not three levels")
        by_area = np.argsort(-masks.reshape(len(masks), -1).sum(1), kind="stable")
        for rank, level in enumerate(LEVELS):
            ours = seglab.predict(pair.ours, array, prompt, level=level)
            official_mask = by_area[rank]
            pixels, score = compare((masks[[official_mask]], scores[[official_mask]], None), ours)
            assert pixels <= MAX_PIXEL_DIFF and score <= MAX_SCORE_DIFF, (case, level)
    with pytest.raises(seglab.InvalidPromptError, match="unknown level 'object'"):
        seglab.predict(pair.ours, array, prompt, level="object")
