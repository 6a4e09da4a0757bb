"""SAM 2.1 Hiera-T through seglab gives the official ``sam2`` 1.1.0 code's masks and scores on the same weights.

The official model is built with random weights by its own builder (``build_sam2`` with the Hiera-T config),
saved as an official checkpoint (``{"model": state_dict}``), loaded through ``seglab.load_model(...,
location=path)`` (the key mapping of ``seglab.checkpoints.sam2``) and compared with ``SAM2ImagePredictor`` and
``SAM2AutomaticMaskGenerator`` on real images. Random weights leave mask logits near 0, where rounding flips
pixels, so the mask decoder's output layers are scaled until the logits spread (std ~5).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import seglab
from seglab import Prompt, WeightsUnavailableError
from seglab.everything import EverythingParams, segment_everything

pytest.importorskip("hydra", reason="the official sam2 package needs hydra-core (requirements-dev.txt)")
pytest.importorskip("sam2.build_sam", reason="the official sam2 1.1.0 package is a test dependency (.ci/run)")

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
MODEL_ID = "sam2.1-hiera-tiny"
MAX_PIXEL_DIFF = 1e-3  # fraction of a mask's pixels allowed to differ (float summation order)
MAX_SCORE_DIFF = 1e-4
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _official_model():
    from sam2.build_sam import build_sam2

    torch.manual_seed(0)
    model = build_sam2(CONFIG, ckpt_path=None, device="cpu")
    decoder = model.sam_mask_decoder
    with torch.no_grad():  # spread the random logits and predicted IoUs away from 0 / 0.5
        for mlp in decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(50.0)
        decoder.iou_prediction_head.layers[-1].weight.mul_(10.0)
    return model


@pytest.fixture(scope="module")
def official():
    return _official_model()


@pytest.fixture(scope="module")
def checkpoint(official, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny.pt"
    torch.save({"model": official.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def ours(checkpoint):
    return seglab.load_model(MODEL_ID, device="cpu", location=checkpoint)


def _images(coco_root: Path, coco_image: np.ndarray) -> dict[str, np.ndarray]:
    portrait = seglab.load_image(coco_root / "val2017" / "000000006818.jpg")
    example = seglab.load_image(EXAMPLES / "000000286994.jpg")
    wide = seglab.load_image(EXAMPLES / "000000555705.jpg")
    return {
        "landscape": coco_image,  # 640 x 427
        "portrait": portrait,  # 427 x 640
        "small": cv2.resize(wide, (200, 116), interpolation=cv2.INTER_AREA),
        "large": cv2.resize(portrait, (1334, 2000), interpolation=cv2.INTER_CUBIC),
        "odd": np.ascontiguousarray(example[17:418, 31:548]),  # 517 x 401
    }


IMAGE_NAMES = ("landscape", "portrait", "small", "large", "odd")


@pytest.fixture(scope="module")
def embedded(official, ours, coco_root, coco_image):
    """name -> (image, official predictor with the image set, seglab embedding), each image embedded once."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    images = _images(coco_root, coco_image)
    cache: dict[str, tuple] = {}

    def get(name: str) -> tuple:
        if name not in cache:
            reference = SAM2ImagePredictor(official)
            reference.set_image(images[name])
            cache[name] = (images[name], reference, ours.embed(images[name]))
        return cache[name]

    return get


def _prompts(h: int, w: int) -> dict[str, tuple[dict, Prompt]]:
    """(official predict kwargs, seglab prompt) per prompt kind, placed by fractions of the image size."""
    point = np.array([[0.42 * w, 0.55 * h]])
    negative = np.array([[0.78 * w, 0.3 * h]])
    box = np.array([0.2 * w, 0.25 * h, 0.7 * w, 0.85 * h])
    second = np.array([0.55 * w, 0.1 * h, 0.95 * w, 0.5 * h])
    both = np.concatenate([point, negative])
    return {
        "point": (dict(point_coords=point, point_labels=np.array([1])), Prompt.build(points=point)),
        "pos+neg": (dict(point_coords=both, point_labels=np.array([1, 0])),
                    Prompt.build(points=both, labels=[1, 0])),
        "box": (dict(box=box), Prompt.build(box=box)),
        "box+points": (dict(box=box, point_coords=both, point_labels=np.array([1, 0])),
                       Prompt.build(box=box, points=both, labels=[1, 0])),
        "two boxes": (dict(box=np.stack([box, second])), Prompt.build(boxes=[box, second])),
    }


def assert_same(ref_masks: np.ndarray, ref_scores: np.ndarray, masks: seglab.Masks) -> None:
    assert masks.masks.shape == ref_masks.shape
    differ = (masks.masks != ref_masks).reshape(len(ref_masks), -1).mean(1)
    assert differ.max() <= MAX_PIXEL_DIFF, f"pixels differing per mask: {differ}"
    np.testing.assert_allclose(masks.scores, ref_scores, rtol=0, atol=MAX_SCORE_DIFF)


@pytest.mark.parametrize("name", IMAGE_NAMES)
@pytest.mark.parametrize("kind", ["point", "pos+neg", "box", "box+points", "two boxes"])
@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "single"])
def test_prompt_gives_official_masks_in_official_order(embedded, ours, name, kind, multimask):
    image, reference, embedding = embedded(name)
    kwargs, prompt = _prompts(*image.shape[:2])[kind]
    ref_masks, ref_scores, _ = reference.predict(**kwargs, multimask_output=multimask)
    got = ours.segment(embedding, prompt.validated(*image.shape[:2]), multimask_output=multimask)
    # segment keeps the decoder's order (box i's masks first), as the official predictor; several boxes come
    # back from it as (boxes, masks, H, W)
    assert_same(ref_masks.reshape(-1, *image.shape[:2]), ref_scores.reshape(-1), got)


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_refining_with_previous_logits_matches_official(embedded, ours, name):
    """The best of three masks for one point, then its low-resolution logits fed back with a second point."""
    image, reference, embedding = embedded(name)
    first_kwargs, first = _prompts(*image.shape[:2])["point"]
    kwargs, prompt = _prompts(*image.shape[:2])["pos+neg"]
    _, ref_scores, ref_logits = reference.predict(**first_kwargs, multimask_output=True)
    best = int(np.argmax(ref_scores))
    ref_masks, ref_scores, _ = reference.predict(**kwargs, mask_input=ref_logits[best][None], multimask_output=False)
    previous = ours.segment(embedding, first.validated(*image.shape[:2]), multimask_output=True)
    assert int(np.argmax(previous.scores)) == best
    assert np.abs(previous.logits).max() <= 32.0  # returned for refinement clamped, as the official predictor
    got = ours.segment(embedding, prompt.validated(*image.shape[:2]), multimask_output=False,
                       mask_input=previous.logits[best])
    assert_same(ref_masks, ref_scores, got)


def test_public_predict_returns_official_masks_best_first(embedded, ours):
    image, reference, _ = embedded("landscape")
    kwargs, prompt = _prompts(*image.shape[:2])["point"]
    ref_masks, ref_scores, _ = reference.predict(**kwargs)  # official default: three masks
    order = np.argsort(-ref_scores, kind="stable")
    got = seglab.predict(ours, image, prompt)
    assert_same(ref_masks[order], ref_scores[order], got)


def test_cli_weights_flag_loads_the_official_checkpoint(embedded, checkpoint, coco_image_path, tmp_path):
    """``seglab predict sam2.1-hiera-tiny IMAGE --weights sam2.1_hiera_tiny.pt``: the official best mask first."""
    import json

    from seglab.cli import main
    from seglab.results import decode_rle

    image, reference, _ = embedded("landscape")
    kwargs, _ = _prompts(*image.shape[:2])["point"]
    ref_masks, ref_scores, _ = reference.predict(**kwargs)
    x, y = kwargs["point_coords"][0]
    assert main(["predict", MODEL_ID, str(coco_image_path), "--weights", str(checkpoint), "--point", f"{x},{y}",
                 "--device", "cpu", "--out", str(tmp_path)]) == 0
    entries = json.loads((tmp_path / "result.json").read_text())["masks"]
    best = int(np.argmax(ref_scores))
    assert len(entries) == len(ref_masks) and abs(entries[0]["score"] - ref_scores[best]) <= MAX_SCORE_DIFF
    assert (decode_rle(entries[0]["segmentation"]) != ref_masks[best]).mean() <= MAX_PIXEL_DIFF


def test_logits_are_spread_so_the_comparison_means_something(embedded):
    image, reference, _ = embedded("landscape")
    kwargs, _ = _prompts(*image.shape[:2])["point"]
    masks, _, logits = reference.predict(**kwargs)
    assert logits.std() > 3.0
    assert all(0.01 < m.mean() < 0.99 for m in masks)


def _match(reference: list[dict], ours: seglab.Masks) -> np.ndarray:
    """IoU of each official mask with its partner in a one-to-one assignment (Hungarian, on IoU)."""
    from scipy.optimize import linear_sum_assignment

    a = torch.from_numpy(np.stack([r["segmentation"] for r in reference])).flatten(1).float()
    b = torch.from_numpy(np.array(ours.masks)).flatten(1).float()
    inter = a @ b.T
    iou = (inter / (a.sum(1)[:, None] + b.sum(1)[None] - inter).clamp(min=1)).numpy()
    rows, cols = linear_sum_assignment(-iou)
    return iou[rows, cols]


@pytest.mark.parametrize("image_name, side, nms, least", [("landscape", 10, 1.0, 200), ("small", 5, 0.7, 1)],
                         ids=["nms-off", "nms-default"])
def test_segment_everything_matches_official_generator(official, ours, embedded, monkeypatch, image_name, side, nms,
                                                       least):
    """Same parameters as ``SAM2AutomaticMaskGenerator``; thresholds lowered so hundreds of random masks survive
    with NMS off (with the default NMS, random masks are large blobs and a few survive)."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    image, reference, _ = embedded(image_name)
    params = dict(points_per_side=side, points_per_batch=64, pred_iou_thresh=0.3, stability_score_thresh=0.6,
                  box_nms_thresh=nms)
    generator = SAM2AutomaticMaskGenerator(official, **params)
    # the generator's own predictor is a default SAM2ImagePredictor of the same model (min_mask_region_area is 0):
    # hand it the one that already holds this image's features instead of embedding the image a second time
    generator.predictor = reference
    monkeypatch.setattr(reference, "set_image", lambda image: None)
    monkeypatch.setattr(reference, "reset_predictor", lambda: None)
    expected = generator.generate(image)
    got = segment_everything(ours, image, EverythingParams(**params)).masks
    assert len(got) == len(expected) >= least
    ious = _match(expected, got)
    assert len(ious) == len(expected) and ious.min() >= 0.99
    by_iou = sorted(r["predicted_iou"] for r in expected)
    np.testing.assert_allclose(np.sort(got.scores), by_iou, rtol=0, atol=MAX_SCORE_DIFF)


def test_segment_everything_defaults_are_the_official_generators(ours):
    """Every setting both generators have defaults to the official SAM 2 value (pred_iou_thresh is 0.8 there,
    0.88 in SAM's generator)."""
    import dataclasses
    import inspect

    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    from seglab.everything import default_params

    official_defaults = {name: p.default for name, p in
                         inspect.signature(SAM2AutomaticMaskGenerator.__init__).parameters.items()}
    ours_defaults = dataclasses.asdict(default_params(ours))
    shared = [name for name in ours_defaults if name in official_defaults]
    assert "pred_iou_thresh" in shared and len(shared) >= 10
    assert {n: ours_defaults[n] for n in shared} == {n: official_defaults[n] for n in shared}


def test_hiera_sizes_are_read_from_the_checkpoint():
    """Each official size's state dict converts and loads strictly into the Sam2Model its shapes imply."""
    from sam2.build_sam import build_sam2

    from seglab.checkpoints import sam2 as convert

    for config, size in [("s", "small"), ("b+", "base-plus")]:
        sd = build_sam2(f"configs/sam2.1/sam2.1_hiera_{config}.yaml", ckpt_path=None, device="cpu").state_dict()
        assert convert.variant_of(sd) == size
        model = convert.empty_model(sd)
        model.load_state_dict(convert.convert(sd), strict=True, assign=True)
        assert model.config.vision_config.backbone_config.blocks_per_stage == convert.VARIANTS[size]["blocks_per_stage"]


def _drop_block(sd: dict, block: int) -> None:
    for key in [k for k in sd if k.startswith(f"image_encoder.trunk.blocks.{block}.")]:
        del sd[key]


@pytest.mark.parametrize("change, expected", [
    (lambda sd: sd.pop("sam_mask_decoder.iou_token.weight"), "'mask_decoder.iou_token.weight'"),
    (lambda sd: sd.update(extra=torch.zeros(1)), "'extra'"),
    (lambda sd: sd.update({"sam_mask_decoder.iou_token.weight": torch.zeros(2, 256)}),
     "'mask_decoder.iou_token.weight'"),
    (lambda sd: sd.pop("image_encoder.trunk.patch_embed.proj.weight"), "'image_encoder.trunk.patch_embed.proj.weight'"),
    (lambda sd: _drop_block(sd, 11), "none of the official SAM 2 sizes"),
], ids=["missing", "unknown", "shape", "not-sam2", "unknown-size"])
def test_bad_checkpoint_is_one_line_naming_file_and_key(official, tmp_path, change, expected):
    sd = dict(official.state_dict())
    change(sd)
    path = tmp_path / "broken.pt"
    torch.save({"model": sd}, path)
    with pytest.raises(WeightsUnavailableError) as err:
        seglab.load_model(MODEL_ID, device="cpu", location=path)
    text = str(err.value)
    assert "\n" not in text and str(path) in text and expected in text
