"""The offline default (U2-Net-p saliency + GrabCut + box prior, region tree for clicks) on real COCO images."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt
from scipy.stats import spearmanr
from torchvision.ops import box_iou

import seglab
from seglab.everything import estimate_seconds, mask_boxes, segment_everything
from seglab.formats import load_coco_gt
from seglab.interactive import mask_iou, next_click
from seglab.models.embedded import (
    BOX_SALIENCY_SIDE,
    PROPOSAL_SCALES,
    EmbeddedSegmenter,
    _any_input_size,
    embedded_weights,
)
from seglab.models.region_hierarchy import proposal_scores
from seglab.registry import get_spec
from seglab.results import masks_to_boxes

MODEL = "embedded-u2netp-grabcut"


@pytest.fixture(scope="module")
def model() -> EmbeddedSegmenter:
    return seglab.load_model(MODEL)


@pytest.fixture(scope="module")
def real_instances(coco_root: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, N x H x W masks) for the first five images of the slice: their non-crowd instances over 32 px."""
    coco = load_coco_gt(coco_root / "annotations" / "instances_val2017.json")
    out = []
    for image_id in coco.getImgIds()[:5]:
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=False)) if min(a["bbox"][2:]) > 32]
        if anns:
            image = seglab.load_image(coco_root / "val2017" / coco.loadImgs(image_id)[0]["file_name"])
            out.append((image, np.stack([coco.annToMask(a).astype(bool) for a in anns])))
    return out


def test_weights_ship_in_the_installed_package() -> None:
    path = embedded_weights()
    assert path.name == "u2netp.onnx" and path.stat().st_size > 4_000_000


def test_a_missing_onnx_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(seglab.WeightsUnavailableError, match="no ONNX file at .*missing.onnx"):
        seglab.load_model(MODEL, location=tmp_path / "missing.onnx")


def test_a_corrupt_onnx_file_or_no_onnx_package_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    with pytest.raises(seglab.WeightsUnavailableError, match="corrupt.onnx is not an ONNX model"):
        EmbeddedSegmenter.load(get_spec(MODEL), corrupt)
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the package were not installed
    with pytest.raises(seglab.WeightsUnavailableError, match="needs the package onnx: pip install -r requirements"):
        EmbeddedSegmenter.load(get_spec(MODEL))


def test_same_call_gives_the_same_mask(model: EmbeddedSegmenter, coco_image: np.ndarray) -> None:
    prompt = seglab.Prompt.build(box=[380, 60, 520, 360])
    first = seglab.predict(model, coco_image, prompt)
    model.cache.clear()
    cv2.setRNGSeed(12345)  # whatever state OpenCV's RNG is left in, GrabCut starts the same
    second = seglab.predict(model, coco_image, prompt)
    np.testing.assert_array_equal(first.masks, second.masks)
    assert first.scores[0] == second.scores[0]


@pytest.mark.parametrize("prompt", [
    seglab.Prompt.build(boxes=[[380, 60, 520, 360], [10, 200, 200, 420]]),
    seglab.Prompt.build(points=[(450, 200)]),
    seglab.Prompt.build(points=[(450, 200), (300, 100)], labels=[1, 0], box=[380, 60, 520, 360]),
], ids=["two boxes", "one click", "box and clicks"])
def test_box_and_point_prompts_give_masks_of_the_image_size(model, coco_image, prompt) -> None:
    out = seglab.predict(model, coco_image, prompt)
    n = len(prompt.boxes) if prompt.boxes is not None else 1
    assert out.masks.shape == (n, *coco_image.shape[:2])
    assert out.masks.reshape(n, -1).any(1).all()
    assert ((out.scores >= 0) & (out.scores <= 1)).all()
    if prompt.points is not None:  # a positive click lies inside the mask, a negative one outside
        for (x, y), positive in zip(prompt.points, prompt.point_labels):
            assert out.masks[0, int(y), int(x)] == bool(positive)


def test_a_region_prompt_gives_a_mask_near_the_region(model, real_instances) -> None:
    image, masks = real_instances[0]
    gt = masks[0]
    rough = cv2.dilate(gt.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # a brush stroke spilling over
    out = seglab.predict(model, image, seglab.Prompt.build(region=rough))
    assert out.masks.shape == (1, *image.shape[:2])
    assert mask_iou(out.masks[0], gt) > 0.5


def test_beats_box_as_mask_on_real_instances_and_scores_track_iou(model, real_instances) -> None:
    model_ious, box_ious, scores = [], [], []
    for image, masks in real_instances:
        boxes = masks_to_boxes(masks)
        out = seglab.predict(model, image, seglab.Prompt.build(boxes=boxes))
        model_ious.extend(mask_iou(pred, gt) for pred, gt in zip(out.masks, masks))
        scores.extend(out.scores)
        for gt, (x0, y0, x1, y1) in zip(masks, boxes.astype(int)):
            filled = np.zeros_like(gt)
            filled[y0:y1, x0:x1] = True
            box_ious.append(mask_iou(filled, gt))
    assert len(model_ious) >= 15
    assert np.mean(model_ious) > np.mean(box_ious)
    assert spearmanr(scores, model_ious).statistic > 0.3


def test_a_negative_click_removes_the_region_around_it(model, coco_image) -> None:
    box = [380, 60, 520, 360]
    before = seglab.predict(model, coco_image, seglab.Prompt.build(box=box)).masks[0]
    depth = distance_transform_edt(before)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    after = seglab.predict(model, coco_image, seglab.Prompt.build(box=box, points=[(x, y)], labels=[0])).masks[0]
    near = np.hypot(*np.mgrid[:before.shape[0], :before.shape[1]] - np.array([y, x])[:, None, None]) < 10
    assert before[near].all() and not after[near].any()
    assert after.sum() < before.sum()


@pytest.mark.parametrize("prompt, error, message", [
    (seglab.Prompt.build(box=[700, 500, 800, 600]), seglab.InvalidPromptError,
     "lies outside the 640x427 image"),
    (seglab.Prompt.build(points=[(10, 10)], labels=[2]), seglab.InvalidPromptError, "must be 1"),
    (seglab.Prompt(text="dog"), seglab.UnsupportedTaskError, "does not take text prompts"),
], ids=["box outside", "bad label", "text"])
def test_bad_prompts_are_clear_errors(model, coco_image, prompt, error, message) -> None:
    with pytest.raises(error, match=message):
        seglab.predict(model, coco_image, prompt)


class _CountingSession:
    """An onnxruntime session that counts its runs and keeps their input sides."""

    def __init__(self, session) -> None:
        self.session, self.runs, self.sides = session, 0, []

    def get_inputs(self):
        return self.session.get_inputs()

    def run(self, outputs, feeds):
        self.runs += 1
        self.sides.append(next(iter(feeds.values())).shape[2:])
        return self.session.run(outputs, feeds)


def test_the_network_runs_at_any_size_and_unchanged_at_its_own() -> None:
    import onnxruntime as ort

    shipped = ort.InferenceSession(str(embedded_weights()), providers=["CPUExecutionProvider"])
    free = ort.InferenceSession(_any_input_size(embedded_weights()), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(1, 3, 320, 320)).astype(np.float32)
    np.testing.assert_array_equal(free.run(None, {"input.1": x})[0], shipped.run(None, {"input.1": x})[0])
    small = free.run(None, {"input.1": x[:, :, :BOX_SALIENCY_SIDE, :BOX_SALIENCY_SIDE]})[0]
    assert small.shape == (1, 1, BOX_SALIENCY_SIDE, BOX_SALIENCY_SIDE) and np.isfinite(small).all()


def test_saliency_runs_once_per_box_crop_and_never_again_for_repeat_prompts(model, coco_image) -> None:
    counting = _CountingSession(model._session)
    fresh = EmbeddedSegmenter(get_spec(MODEL), counting)
    boxes = ([380, 60, 520, 360], [10, 200, 200, 420], [300, 250, 400, 300])
    prompts = [seglab.Prompt.build(box=box) for box in boxes] + [seglab.Prompt.build(points=[(450, 200)])]
    for prompt in prompts[:-1]:
        seglab.predict(fresh, coco_image, prompt)
    assert counting.runs == len(boxes)  # one run per box crop, at the working side
    assert counting.sides == [(BOX_SALIENCY_SIDE, BOX_SALIENCY_SIDE)] * len(boxes)
    seglab.predict(fresh, coco_image, prompts[-1])
    runs = counting.runs
    assert runs == len(boxes) + 1 and counting.sides[-1] == (320, 320)  # a click: the whole image's, for its tree
    for prompt in prompts:  # the same prompts again: GrabCut only
        seglab.predict(fresh, coco_image, prompt)
    assert counting.runs == runs
    seglab.predict(fresh, coco_image[::-1].copy(), prompts[0])
    assert counting.runs == runs + 1  # another image, another run


def test_a_box_nudged_inward_reuses_its_predecessors_saliency_and_a_smaller_one_does_not(model, coco_image) -> None:
    counting = _CountingSession(model._session)
    fresh = EmbeddedSegmenter(get_spec(MODEL), counting)
    first = seglab.predict(fresh, coco_image, seglab.Prompt.build(box=[380, 60, 520, 360]))
    nudged = seglab.predict(fresh, coco_image, seglab.Prompt.build(box=[384, 64, 516, 352]))
    assert counting.runs == 1  # the nudged box's crop lies in the first's: GrabCut only
    assert mask_iou(nudged.masks[0], first.masks[0]) > 0.9
    seglab.predict(fresh, coco_image, seglab.Prompt.build(box=[400, 100, 460, 200]))
    assert counting.runs == 2  # a much smaller box inside gets its own crop's saliency
    seglab.predict(fresh, coco_image, seglab.Prompt.build(box=[376, 56, 524, 364]))
    assert counting.runs == 3  # a box grown outward is not held by any earlier crop


def test_prepare_leaves_no_network_run_for_the_first_click(model, coco_image) -> None:
    counting = _CountingSession(model._session)
    fresh = EmbeddedSegmenter(get_spec(MODEL), counting)
    assert seglab.prepare(fresh, coco_image) is True
    runs = counting.runs
    assert runs == 1
    seglab.predict(fresh, coco_image, seglab.Prompt.build(points=[(450, 200)]))
    assert counting.runs == runs
    fresh.cache.clear()
    seglab.predict(fresh, coco_image, seglab.Prompt.build(points=[(450, 200)]))
    assert counting.runs == runs + 1  # without prepare the click pays for it


def _clicked(model, instances) -> tuple[list[float], list[float], list[float]]:
    """Per instance: IoU of the mask from one click at its most interior point, the score, and the IoU
    of a disc under the click as large as the instance's inscribed circle (a blob under the cursor)."""
    ious, scores, discs = [], [], []
    for image, masks in instances:
        for gt in masks:
            click = next_click(gt)
            out = seglab.predict(model, image, seglab.Prompt.build(points=[(click.x, click.y)]))
            ious.append(mask_iou(out.masks[0], gt))
            scores.append(float(out.scores[0]))
            depth = distance_transform_edt(np.pad(gt, 1))[1:-1, 1:-1].max()
            disc = np.zeros(gt.shape, np.uint8)
            cv2.circle(disc, (click.x, click.y), int(depth), 1, -1)
            discs.append(mask_iou(disc > 0, gt))
    return ious, scores, discs


def test_a_click_finds_its_object_and_the_score_tracks_iou(model, real_instances) -> None:
    ious, scores, discs = _clicked(model, real_instances)
    assert len(ious) >= 15
    assert np.mean(ious) > np.mean(discs)  # more than the largest blob that fits under the click
    assert spearmanr(scores, ious).statistic > 0


def test_a_brush_stroke_selects_the_object_under_it(model, real_instances) -> None:
    image, masks = real_instances[0]
    gt = masks[int(np.argmax(masks.reshape(len(masks), -1).sum(1)))]
    ys, xs = np.nonzero(gt)
    row = int(np.median(ys))
    cols = xs[ys == row]
    stroke = np.zeros_like(gt)
    quarter = (cols.max() - cols.min()) // 4
    stroke[max(row - 2, 0):row + 3, cols.min() + quarter:cols.max() - quarter + 1] = True
    stroke &= gt
    out = seglab.predict(model, image, seglab.Prompt.build(region=stroke))
    assert mask_iou(out.masks[0], gt) > 2 * mask_iou(stroke, gt)


def test_segment_everything_proposes_objects(model, real_instances) -> None:
    image, masks = real_instances[0]
    model.cache.clear()  # nothing built yet: the estimate times the work ahead
    estimate = estimate_seconds(model, image)
    result = segment_everything(model, image)
    assert estimate > 0 and len(result.masks) > 0
    assert result.masks.masks.shape[1:] == image.shape[:2]
    assert ((result.masks.scores >= 0) & (result.masks.scores <= 1)).all()
    best = [max(mask_iou(p, gt) for p in result.masks.masks) for gt in masks]
    assert max(best) >= 0.5  # some object of the image is found
    boxes = mask_boxes(torch.from_numpy(result.masks.masks))  # the NMS's boxes (inclusive, as SAM's)
    overlap = box_iou(boxes.float(), boxes.float()).fill_diagonal_(0)
    assert overlap.max() <= 0.7 + 1e-6  # de-duplicated by the point path's NMS


def test_proposals_come_coarse_levels_first(model, real_instances) -> None:
    """Proposals are regions of the trees, in the order of their proposal scores (level, then objectness)."""
    image, _ = real_instances[0]
    proposed = model.propose(image)
    assert len(proposed) > 0 and (np.diff(proposed.scores) <= 0).all()
    ranks = np.concatenate([proposal_scores(model.regions(image, s)[0]) for s in PROPOSAL_SCALES]).astype(np.float32)
    assert np.isin(proposed.scores, ranks).all()


def test_benchmark_script_reports_a_missing_slice(tmp_path: Path, capsys) -> None:
    from benchmarks.offline_default import main

    assert main(["--data", str(tmp_path)]) == 2
    assert "no annotations/instances_val2017.json under" in capsys.readouterr().err


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_a_click_on_an_example_selects_its_largest_object(model, coco_root: Path) -> None:
    """Each repo example with COCO ground truth in the slice: one click at the most interior point of its
    largest instance (as the app's user would click) gives a mask with IoU >= 0.5 against that instance."""
    coco = load_coco_gt(coco_root / "annotations" / "instances_val2017.json")
    ids = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    examples = [p for p in sorted(EXAMPLES.glob("*.jpg")) if p.name in ids]
    if not examples:
        pytest.skip("no example image has ground truth in the shared COCO slice")
    for path in examples:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=ids[path.name], iscrowd=False))
        gt = coco.annToMask(max(anns, key=lambda a: a["area"])).astype(bool)
        click = next_click(gt)
        prompt = seglab.Prompt.build(points=[(click.x + 0.5, click.y + 0.5)])
        out = seglab.predict(model, seglab.load_image(path), prompt)
        assert mask_iou(out.masks[0], gt) >= 0.5, path.name
