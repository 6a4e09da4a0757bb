"""Interactive scores: NoC counts to the first crossing, named numbers, and the streaming evaluator."""
from __future__ import annotations

import numpy as np
import pytest

from seglab.metrics import InteractiveEvaluator
from seglab.metrics.interactive import mask_iou, number_of_clicks, summarize


def test_number_of_clicks_counts_to_the_first_crossing() -> None:
    ious = np.array([[0.5, 0.86, 0.91, 0.95], [0.95, 0.8, 0.9, 0.9], [0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_array_equal(number_of_clicks(ious, 0.85), [2, 1, 4])
    np.testing.assert_array_equal(number_of_clicks(ious, 0.90), [3, 1, 4])
    summary = summarize(ious)
    assert summary["NoC@85"] == pytest.approx(7 / 3)
    assert summary["mIoU@2"] == pytest.approx((0.86 + 0.8 + 0.2) / 3 * 100)
    assert mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0

def test_evaluator_streams_images_into_the_summary_of_all_instances() -> None:
    rng = np.random.default_rng(0)
    images = [rng.random((n, 5)) for n in (2, 0, 3)]  # an image whose instances all rasterised to nothing
    boxes = [rng.random(len(i)) for i in images]
    ev = InteractiveEvaluator()
    for ious, box in zip(images, boxes):
        assert ev.process(ious, box) is None
    assert ev.evaluate() == summarize(np.concatenate([i for i in images if len(i)]), np.concatenate(boxes))
    ev.reset()
    ev.process(images[0])
    assert "box mIoU" not in ev.evaluate() and ev.evaluate()["instances"] == 2
    ev.reset()
    with pytest.raises(ValueError, match="no instance"):
        ev.evaluate()
