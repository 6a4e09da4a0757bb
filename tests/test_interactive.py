"""The SAM-paper click simulator and evaluation loop, on real COCO val2017 instance masks."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

import seglab
from seglab.formats import load_coco_gt
from seglab.interactive import box_ious, click_ious, evaluate_interactive, next_click
from seglab.metrics.interactive import miou_curve, summarize
from seglab.results import Masks


@pytest.fixture(scope="module")
def coco_instances(coco_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """A real image and its non-crowd instance masks (the image with the most of them among the first 10)."""
    coco = load_coco_gt(coco_root / "annotations" / "instances_val2017.json")
    best = max(coco.getImgIds()[:10], key=lambda i: len(coco.getAnnIds(imgIds=i, iscrowd=False)))
    anns = coco.loadAnns(coco.getAnnIds(imgIds=best, iscrowd=False))
    masks = np.stack([coco.annToMask(a).astype(bool) for a in anns])
    image = seglab.load_image(coco_root / "val2017" / coco.loadImgs(best)[0]["file_name"])
    return image, masks[masks.reshape(len(masks), -1).sum(1) > 0]


class ScriptedPredictor:
    """A promptable adapter whose answer is a function of the prompt; it records every call."""

    def __init__(self, answer) -> None:
        self.spec = replace(seglab.get_spec("embedded-u2netp-grabcut"), id="scripted")
        self.answer = answer
        self.calls: list[tuple[seglab.Prompt, dict]] = []

    def predict(self, image: np.ndarray, prompt: seglab.Prompt, **options) -> Masks:
        self.calls.append((prompt, options))
        return self.answer(image, prompt)


def _boundary_distance(mask: np.ndarray) -> np.ndarray:
    """Independent check with OpenCV: distance of each pixel to the nearest pixel outside the (padded) mask."""
    padded = np.pad(mask, 1).astype(np.uint8)
    return cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]


def test_first_click_is_inside_at_the_most_interior_point(coco_instances) -> None:
    _, masks = coco_instances
    assert len(masks) >= 3
    for gt in masks:
        click = next_click(gt)
        assert click.is_positive and gt[click.y, click.x]
        dist = _boundary_distance(gt)
        assert dist[click.y, click.x] == pytest.approx(dist.max(), abs=1e-3)


def test_next_click_targets_the_deeper_error_region(coco_instances) -> None:
    _, masks = coco_instances
    gt = masks[0]
    spill = cv2.dilate(gt.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    click = next_click(gt, spill)
    assert not click.is_positive and spill[click.y, click.x] and not gt[click.y, click.x]
    half = gt.copy()
    half[:, : int(np.median(np.nonzero(gt)[1]))] = False
    click = next_click(gt, half)
    assert click.is_positive and gt[click.y, click.x] and not half[click.y, click.x]
    assert next_click(gt, gt) is None


def test_perfect_predictor_stops_after_one_click(coco_instances) -> None:
    image, masks = coco_instances
    gt = masks[1]
    oracle = ScriptedPredictor(lambda img, p: Masks(gt[None], [1.0]))
    ious = click_ious(oracle, image, gt, max_clicks=20)
    assert len(oracle.calls) == 1
    np.testing.assert_array_equal(ious, 1.0)
    assert summarize(ious[None])["NoC@90"] == 1


def test_empty_predictor_gets_only_positive_clicks_inside_the_missed_region(coco_instances) -> None:
    image, masks = coco_instances
    gt = masks[0]
    empty = ScriptedPredictor(lambda img, p: Masks.empty(*img.shape[:2]))
    ious = click_ious(empty, image, gt, max_clicks=4)
    assert len(empty.calls) == 4
    np.testing.assert_array_equal(ious, 0.0)
    last_prompt = empty.calls[-1][0]
    assert last_prompt.point_labels.tolist() == [1, 1, 1, 1]
    for x, y in last_prompt.points.astype(int):
        assert gt[y, x]
    assert summarize(ious[None])["NoC@85"] == 4  # never reached: capped at the number of clicks


def test_logits_of_the_chosen_mask_are_fed_back(coco_instances) -> None:
    image, masks = coco_instances
    gt = masks[0]
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 64, 64)).astype(np.float32)
    partial = gt.copy()
    partial[: int(np.median(np.nonzero(gt)[0]))] = False  # keeps missing the top half: more clicks follow
    model = ScriptedPredictor(lambda img, p: Masks(np.stack([~gt, partial]), [0.2, 0.9], logits=logits))
    click_ious(model, image, gt, max_clicks=3)
    assert "mask_input" not in model.calls[0][1]
    np.testing.assert_array_equal(model.calls[1][1]["mask_input"], logits[1])  # the higher-scoring mask's


def test_evaluate_interactive_and_summary_names(coco_instances) -> None:
    image, masks = coco_instances
    picks = masks[:3]
    answers = iter(picks)  # perfect on each instance in turn: one call each
    model = ScriptedPredictor(lambda img, p: Masks(next(answers)[None], [1.0]))
    ious = evaluate_interactive(model, image, picks, max_clicks=5)
    assert ious.shape == (3, 5) and len(model.calls) == 3
    np.testing.assert_array_equal(ious, 1.0)
    summary = summarize(ious, np.array([0.5, 0.7, 0.9]))
    assert set(summary) == {"instances", "mIoU@1", "mIoU@2", "mIoU@3", "mIoU@5", "NoC@85", "NoC@90", "box mIoU"}
    assert summary["box mIoU"] == pytest.approx(70.0)  # percent, as seglab.metrics reports mIoU
    assert summary["mIoU@5"] == 100.0
    np.testing.assert_allclose(miou_curve(ious), ious.mean(0) * 100)


def test_offline_default_runs_clicks_and_boxes(coco_instances) -> None:
    image, masks = coco_instances
    gt = masks[np.argmax(masks.reshape(len(masks), -1).sum(1))]
    model = seglab.load_model("embedded-u2netp-grabcut")
    ious = click_ious(model, image, gt, max_clicks=2)
    assert ious.shape == (2,) and ((ious >= 0) & (ious <= 1)).all() and ious[0] > 0
    boxes = box_ious(model, image, gt[None])
    assert boxes.shape == (1,) and 0 < boxes[0] <= 1


def test_models_without_point_prompts_are_refused(coco_instances) -> None:
    image, masks = coco_instances
    text_only = ScriptedPredictor(lambda img, p: Masks.empty(*img.shape[:2]))
    text_only.spec = replace(text_only.spec, prompts=("text",))
    with pytest.raises(seglab.InvalidPromptError, match="does not take point prompts"):
        click_ious(text_only, image, masks[0])


def test_benchmark_task_loads_runs_and_scores(coco_root: Path, tmp_path: Path) -> None:
    from benchmarks.tasks import RunConfig, TaskContext
    from benchmarks.tasks import interactive as task

    config = RunConfig(task="interactive", coco_root=coco_root, options={"clicks": 3})
    dataset = task.load(config)
    assert dataset.name == "coco-val2017" and len(dataset.samples) == 48  # 2 of the 50 images have no instance
    assert "3 simulated clicks" in dataset.note

    def box_only(img, prompt):  # fills the prompted box; finds nothing from clicks
        if prompt.boxes is None:
            return Masks.empty(*img.shape[:2])
        x0, y0, x1, y1 = prompt.boxes[0].astype(int)
        mask = np.zeros(img.shape[:2], bool)
        mask[y0:y1, x0:x1] = True
        return Masks(mask[None], [1.0])

    model, context = ScriptedPredictor(box_only), TaskContext(config, dataset, tmp_path)
    picked = dataset.samples[0], dataset.samples[2]  # 1 and 4 instances
    evaluator = task.evaluator(dataset, config)
    for sample in picked:
        image = seglab.load_image(sample.image_path)
        prediction = task.run(model, image, sample, context)
        assert prediction.output == prediction.record and len(prediction.record["click_ious"]) == len(sample.target)
        evaluator.process(sample, prediction.output)
    masks = [dataset.gt.annToMask(a).astype(bool) for s in picked for a in dataset.gt.loadAnns(s.target)]
    fill = [m.sum() / np.prod(np.ptp(np.nonzero(m), axis=1) + 1) for m in masks]  # mask area / its box area
    scores = evaluator.evaluate()
    assert scores["instances"] == len(masks)
    assert scores["box mIoU"] == pytest.approx(np.mean(fill) * 100)
    assert (scores["mIoU@1"], scores["mIoU@3"], scores["NoC@85"], scores["NoC@90"]) == (0, 0, 3, 3)
    assert "mIoU@4" not in scores
