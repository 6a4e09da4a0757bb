"""The instance benchmark task: each model's own protocol decides what it returns (no score cut of the task's
own), and the evaluator reports mask AP / AR@100 and box AP as pycocotools' COCOeval computes them."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

import seglab
from benchmarks.tasks import RunConfig, TaskContext, instance


class RecordingModel:
    """An instance adapter whose detections are the image's ground truth, eroded, with low and high scores."""

    def __init__(self, gt) -> None:
        self.spec, self.gt, self.calls = seglab.get_spec("maskrcnn-resnet50-fpn"), gt, []

    def predict(self, image: np.ndarray, **options) -> seglab.Masks:
        self.calls.append(options)
        anns = [a for a in self.gt.imgToAnns[self.image_id] if not a["iscrowd"]]
        masks = np.stack([self.gt.annToMask(a).astype(bool) for a in anns])
        masks[:, ::7] = False  # not quite the ground truth
        boxes = np.array([[x, y, x + w * 0.9, y + h] for x, y, w, h in (a["bbox"] for a in anns)], np.float32)
        scores = np.linspace(0.9, 0.06, len(anns))  # some under the 0.5 an app would show
        return seglab.Masks(masks, scores, labels=[a["category_id"] for a in anns], boxes=boxes)


def _coco_eval(gt, entries: list[dict], iou_type: str, image_ids: list[int]) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(entries), iou_type)
        ev.params.imgIds = image_ids
        ev.evaluate(), ev.accumulate(), ev.summarize()
    return float(ev.stats[0]) * 100


def test_the_task_keeps_the_models_own_detections_and_scores_masks_and_boxes(coco_root: Path, tmp_path: Path):
    config = RunConfig(task="instance", model="maskrcnn-resnet50-fpn", coco_root=coco_root, out=tmp_path)
    dataset = instance.load(config)
    samples = [s for s in dataset.samples if len(dataset.gt.imgToAnns[s.image_id]) >= 3][:2]
    model, evaluator = RecordingModel(dataset.gt), instance.evaluator(dataset, config)
    context, written = TaskContext(config, dataset, tmp_path), []
    for sample in samples:
        model.image_id = sample.image_id
        prediction = instance.run(model, seglab.load_image(sample.image_path), sample, context)
        evaluator.process(sample, prediction.output)
        written += prediction.output
    assert model.calls == [{}, {}]  # the adapter's protocol defaults decide; the task adds no threshold
    assert min(e["score"] for e in written) < 0.5
    metrics = evaluator.evaluate()
    ids = [s.image_id for s in samples]
    assert metrics["AP"] == pytest.approx(_coco_eval(dataset.gt, written, "segm", ids), abs=1e-9)
    assert metrics["box AP"] == pytest.approx(_coco_eval(dataset.gt, written, "bbox", ids), abs=1e-9)
    assert 0 < metrics["box AP"] < 100 and metrics["box AP"] != metrics["AP"]
