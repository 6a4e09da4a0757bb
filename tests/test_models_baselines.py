"""The offline baselines (box-as-mask, plain GrabCut, U2-Net-p saliency in the box) on a real COCO image."""
from __future__ import annotations

import numpy as np
import pytest

import seglab
from seglab.registry import get_spec

BASELINES = ("baseline-box-as-mask", "baseline-grabcut", "baseline-u2netp-saliency")
BOX = [380, 60, 520, 360]


def _filled(shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    mask[60:360, 380:520] = True
    return mask


@pytest.mark.parametrize("model_id", BASELINES)
def test_each_baseline_answers_a_box_inside_it_offline(model_id: str, coco_image: np.ndarray) -> None:
    assert get_spec(model_id).offline and seglab.is_available(model_id)
    out = seglab.predict(model_id, coco_image, seglab.Prompt.build(boxes=[BOX, [10, 200, 200, 420]]))
    assert out.masks.shape == (2, *coco_image.shape[:2])
    assert out.masks[0].any() and not (out.masks[0] & ~_filled(coco_image.shape)).any()
    assert ((out.scores >= 0) & (out.scores <= 1)).all()


def test_box_as_mask_is_the_box_filled(coco_image: np.ndarray) -> None:
    out = seglab.predict("baseline-box-as-mask", coco_image, seglab.Prompt.build(box=BOX))
    np.testing.assert_array_equal(out.masks[0], _filled(coco_image.shape))


@pytest.mark.parametrize("model_id", BASELINES[1:])
def test_refining_baselines_keep_part_of_the_box_and_repeat(model_id: str, coco_image: np.ndarray) -> None:
    prompt = seglab.Prompt.build(box=BOX)
    first, second = (seglab.predict(model_id, coco_image, prompt) for _ in range(2))
    assert first.masks[0].sum() < _filled(coco_image.shape).sum()
    np.testing.assert_array_equal(first.masks, second.masks)


@pytest.mark.parametrize("model_id", BASELINES)
def test_baselines_take_boxes_only(model_id: str, coco_image: np.ndarray) -> None:
    with pytest.raises(seglab.UnsupportedTaskError, match="does not take points prompts"):
        seglab.predict(model_id, coco_image, seglab.Prompt.build(points=[(450, 200)]))


def test_offline_default_prints_every_method_side_by_side(coco_root, capsys) -> None:
    from benchmarks.offline_default import BASELINES as PRINTED, MODEL, main

    assert main(["--data", str(coco_root), "--limit", "3"]) in (0, 1)
    printed = capsys.readouterr().out
    for name in (MODEL, *PRINTED):
        assert name in printed
    assert "click" in printed and "Spearman" in printed and "ms first prompt" in printed
