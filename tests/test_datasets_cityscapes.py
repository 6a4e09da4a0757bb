"""seglab's mIoU on a Cityscapes-layout folder equals the official cityscapesScripts evaluation.

The label images are built in tmp_path from the segment layout of the real COCO panoptic PNGs
in ../shared/data (each segment gets a Cityscapes label id, ignored ids included), since
Cityscapes itself may not be redistributed. Predictions are those labels damaged the ways
models err: shifted boundaries, a wrong class on whole segments, a noisy block, a class that
is predicted but never true, and labels for pixels the evaluation ignores.
"""
from __future__ import annotations

import contextlib
import copy
import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seglab.datasets import get_label_set, load_semantic_dataset, read_label_image
from seglab.datasets.cityscapes import label_table
from seglab.formats import read_coco_panoptic, read_panoptic_png
from seglab.metrics import SemanticEvaluator

TRAIN, BICYCLE = 31, 33  # label ids kept out of the ground truth: predicted-only, and absent everywhere


@pytest.fixture(scope="module")
def cityscapes_folder(coco_root: Path, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """(root in the official layout, image id -> its prediction PNG of label ids)."""
    root = tmp_path_factory.mktemp("cityscapes")
    data, folder = read_coco_panoptic(coco_root / "annotations" / "panoptic_val2017.json")
    rng = np.random.default_rng(8)
    to_train, to_label = label_table()[1], np.zeros(256, np.uint8)
    to_label[:19] = get_label_set("cityscapes-19").ids  # train id -> label id, as the official evaluation reads
    evaluated = [i for i in range(34) if to_train[i] != 255 and i not in (TRAIN, BICYCLE)]
    choices = evaluated + [0, 4, 6, 9, 14]  # mostly evaluated classes, some ignored ones
    preds = {}
    for n, ann in enumerate(data["annotations"] * 2):  # each layout twice: as is, and mirrored
        ids = read_panoptic_png(folder / ann["file_name"])
        labels = np.zeros(ids.shape, np.uint8)  # 0 = unlabeled (void)
        for seg in ann["segments_info"]:
            labels[ids == seg["id"]] = rng.choice(choices)
        if n >= len(data["annotations"]):
            labels = labels[:, ::-1].copy()
        stem = save_sample(root, ("aachen", "bochum")[n % 2], n, "gtFine_labelIds", labels, rng)
        preds[stem] = root / "results" / f"{stem}_pred.png"
        preds[stem].parent.mkdir(exist_ok=True)
        # the official evaluation reads label ids, not train ids
        Image.fromarray(to_label[_damage(to_train[labels], rng)]).save(preds[stem])
    return root, preds


def save_sample(root: Path, city: str, n: int, label_name: str, labels: np.ndarray, rng: np.random.Generator) -> str:
    """A random image and its ``labels`` PNG (``<stem>_<label_name>.png``) in the val split of Cityscapes'
    layout under ``root``; returns the file stem."""
    stem = f"{city}_{n:06d}_000019"
    for sub, name, array in (("leftImg8bit", "leftImg8bit", rng.integers(0, 256, (*labels.shape, 3), np.uint8)),
                             ("gtFine", label_name, labels)):
        (root / sub / "val" / city).mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(root / sub / "val" / city / f"{stem}_{name}.png")
    return stem


def _damage(train_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible model output (train ids 0..18 everywhere) from the true train ids."""
    h, w = train_ids.shape
    pred = np.where(train_ids == 255, rng.integers(0, 19), train_ids)  # a guess where the truth is ignored
    pred = np.roll(pred, (int(rng.integers(2, 6)), int(rng.integers(-5, 5))), axis=(0, 1))  # blurred boundaries
    present = np.unique(pred)
    wrong = rng.choice(present)
    pred[pred == wrong] = rng.integers(0, 16)  # a whole class confused with another
    y, x = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    pred[y:y + h // 4, x:x + w // 4] = rng.integers(0, 16, (h // 4, w // 4))[: h - y, : w - x]  # noise
    pred[-h // 10:, : w // 5] = 16  # 'train', never in the ground truth
    pred[pred == 18] = 17  # 'bicycle' appears nowhere: undefined IoU
    return pred.astype(np.uint8)


def _official(gt_files: list[Path], pred_files: list[Path]) -> dict:
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official

    args = copy.deepcopy(official.args)
    args.evalInstLevelScore = False  # needs *_instanceIds.png, which this folder does not have
    args.JSONOutput = False
    args.quiet = True
    args.colorized = False
    with contextlib.redirect_stdout(io.StringIO()):
        return official.evaluateImgLists([str(p) for p in pred_files], [str(p) for p in gt_files], args)


def test_miou_equals_cityscapesscripts(cityscapes_folder) -> None:
    root, preds = cityscapes_folder
    ds = load_semantic_dataset("cityscapes", root)
    pred_files = [preds[s.image_id] for s in ds]
    assert len(ds) == 6
    evaluator = SemanticEvaluator(ds.num_classes, ds.class_names, ds.ignore_index)
    for sample, pred_file in zip(ds, pred_files):
        pred = ds.to_train_ids(read_label_image(pred_file))
        evaluator.process(ds.load_label(sample), pred)
    ours = evaluator.evaluate()
    theirs = _official([s.label_path for s in ds], pred_files)

    for name in ds.class_names:
        mine, ref = ours["IoU"][name] / 100, theirs["classScores"][name]
        if math.isnan(ref):
            assert math.isnan(mine), name
        else:
            assert mine == pytest.approx(ref, abs=1e-9), name
    assert ours["mIoU"] / 100 == pytest.approx(theirs["averageScoreClasses"], abs=1e-9)
    # the set-up exercises what matters: a predicted-only class (IoU 0) and a class absent everywhere (NaN)
    assert ours["IoU"]["train"] == 0 and math.isnan(ours["IoU"]["bicycle"])
    assert 0 < ours["mIoU"] < 100
