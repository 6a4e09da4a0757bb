"""PQ against panopticapi's pq_compute on the real COCO panoptic slice, perturbed with fixed seeds."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.metric_data import save_id_png, write_perturbed_panoptic
from metric_references import reference_pq
from seglab import PanopticMap
from seglab.formats import FormatError, read_panoptic_png
from seglab.metrics import PanopticEvaluator, pq_compute_files

pytest.importorskip("panopticapi.evaluation")  # the reference


def assert_same(ours: dict, ref: dict) -> None:
    for key, name in (("", "All"), ("_th", "Things"), ("_st", "Stuff")):
        assert ours["n" + key] == ref[name]["n"]
        for m in ("PQ", "SQ", "RQ"):
            assert ours[m + key] == pytest.approx(100 * ref[name][m.lower()], abs=1e-9), m + key
    for cid, row in ref["per_class"].items():
        for m in ("PQ", "SQ", "RQ"):
            assert ours["per_class"][cid][m] == pytest.approx(100 * row[m.lower()], abs=1e-9)


@pytest.fixture(scope="module")
def real_gt(coco_root: Path) -> tuple[Path, Path]:
    return coco_root / "annotations" / "panoptic_val2017.json", coco_root / "annotations" / "panoptic_val2017"


@pytest.mark.parametrize(("seed", "workers", "processes"), [(0, None, None), (1, 2, True), (2, 2, False), (3, 1, None)])
def test_pq_equals_panopticapi_on_perturbed_real_data(coco_root, tmp_path, seed, workers, processes):
    gt_json, pred_json = write_perturbed_panoptic(coco_root, tmp_path, copies=1, seed=seed)
    ours = pq_compute_files(gt_json, pred_json, workers=workers, processes=processes)
    ref = reference_pq(gt_json, pred_json)
    assert_same(ours, ref)
    assert 0 < ours["PQ"] < 100 and ours["images"] == 6
    crowds = sum(s["iscrowd"] for a in json.loads(gt_json.read_text())["annotations"] for s in a["segments_info"])
    assert crowds > 0  # the crowd rules were exercised


def test_ground_truth_against_itself_is_perfect(real_gt):
    gt_json, folder = real_gt
    r = pq_compute_files(gt_json, gt_json, folder, folder)
    assert (r["PQ"], r["SQ"], r["RQ"]) == (100.0, 100.0, 100.0)
    assert r["PQ_th"] == 100.0 and r["PQ_st"] == 100.0 and r["n"] == r["n_th"] + r["n_st"] > 0


def test_streaming_evaluator_equals_files(coco_root, tmp_path):
    gt_json, pred_json = write_perturbed_panoptic(coco_root, tmp_path, copies=0, seed=5)
    gt, pred = json.loads(gt_json.read_text()), json.loads(pred_json.read_text())
    cats = {c["id"]: c for c in gt["categories"]}
    ev = PanopticEvaluator(gt["categories"])
    for g, p in zip(gt["annotations"], pred["annotations"]):
        gt_map, pred_map = (PanopticMap.from_coco_panoptic(np.asarray(Image.open(tmp_path / folder / a["file_name"])),
                                                           a["segments_info"], cats)
                            for folder, a in (("gt", g), ("pred", p)))
        ev.process(gt_map, pred_map)
    assert_same(ev.evaluate(), reference_pq(gt_json, pred_json))
    ev.reset()
    assert ev.images == 0 and ev.tp.sum() == 0


def test_unmatched_prediction_on_void_or_crowd_is_not_a_false_positive():
    cats = [{"id": 1, "isthing": 1, "name": "person"}, {"id": 2, "isthing": 0, "name": "sky"}]
    gt = np.zeros((4, 8), np.int32)
    gt[:, 4:] = 5  # a crowd of people on the right, void on the left
    pred = np.zeros((4, 8), np.int32)
    pred[:, :3] = 7  # on void: ignored
    pred[:, 5:] = 8  # on the crowd of its category: ignored
    pred[:, 3:5] = 9  # half void, half crowd, but a different category than the crowd
    ev = PanopticEvaluator(cats)
    ev.process_arrays(gt, [{"id": 5, "category_id": 1, "iscrowd": 1}], pred,
                      [{"id": 7, "category_id": 2}, {"id": 8, "category_id": 1}, {"id": 9, "category_id": 2}])
    assert ev.fp.tolist() == [0, 1] and ev.fn.tolist() == [0, 0] and ev.tp.tolist() == [0, 0]


def _copy_pred(real_gt, tmp_path) -> tuple[Path, Path, dict]:
    gt_json, folder = real_gt
    shutil.copytree(folder, tmp_path / "pred")
    data = json.loads(gt_json.read_text())
    return gt_json, folder, data


def test_prediction_inconsistencies_are_clear_errors(real_gt, tmp_path):
    gt_json, folder, data = _copy_pred(real_gt, tmp_path)
    ann = data["annotations"][0]
    removed = ann["segments_info"].pop()
    (tmp_path / "pred.json").write_text(json.dumps(data))
    with pytest.raises(FormatError, match=f"segment ids \\[{removed['id']}\\] are in the PNG but not in the JSON"):
        pq_compute_files(gt_json, tmp_path / "pred.json", folder)

    ann["segments_info"] += [removed, {**removed, "id": 12345}]
    (tmp_path / "pred.json").write_text(json.dumps(data))
    with pytest.raises(FormatError, match="are in the JSON but not in the PNG"):
        pq_compute_files(gt_json, tmp_path / "pred.json", folder)

    ann["segments_info"][-2:] = [{**removed, "category_id": 999}]
    (tmp_path / "pred.json").write_text(json.dumps(data))
    with pytest.raises(FormatError, match="unknown category ids \\[999\\]"):
        pq_compute_files(gt_json, tmp_path / "pred.json", folder)

    data["annotations"].pop()
    (tmp_path / "pred.json").write_text(json.dumps(data))
    with pytest.raises(FormatError, match="no annotation for ground-truth image id"):
        pq_compute_files(gt_json, tmp_path / "pred.json", folder)


def test_png_size_mismatch_and_missing_folder(real_gt, tmp_path):
    gt_json, folder, data = _copy_pred(real_gt, tmp_path)
    name = data["annotations"][0]["file_name"]
    save_id_png(tmp_path / "pred" / name, read_panoptic_png(folder / name)[:-10])
    (tmp_path / "pred.json").write_text(json.dumps(data))
    for processes in (True, False):  # raised in a worker process or thread, the same error reaches the caller
        with pytest.raises(FormatError, match=f"{name} is 470x640 but its image is 480x640"):
            pq_compute_files(gt_json, tmp_path / "pred.json", folder, tmp_path / "pred", workers=2,
                             processes=processes)
    with pytest.raises(FormatError, match="PNG folder .* does not exist"):
        pq_compute_files(gt_json, tmp_path / "pred.json", folder, tmp_path / "nowhere")
