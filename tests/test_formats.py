"""Reading and writing the COCO formats: round trips and clear errors naming the file."""
from __future__ import annotations

import json
import cv2
import numpy as np
import pytest

from seglab import DepthMap, PanopticMap, Segment, SemanticMap
from seglab.formats import (FormatError, Scratch, load_coco_gt, load_coco_results, pair_folders,
                            read_coco_panoptic, read_depth_png, read_json, read_label_png, read_panoptic_png,
                            write_json, write_label_png)

CATS = [{"id": 1, "name": "person", "isthing": 1}, {"id": 7, "name": "sky", "isthing": 0}]


def test_panoptic_png_is_read_as_r_plus_256g_plus_65536b(tmp_path):
    rgb = np.array([[[1, 2, 3], [255, 255, 255]]], np.uint8)
    cv2.imwrite(str(tmp_path / "p.png"), rgb[..., ::-1])
    assert read_panoptic_png(tmp_path / "p.png").tolist() == [[1 + 2 * 256 + 3 * 65536, 2**24 - 1]]


def test_panoptic_round_trip(tmp_path):
    ids = np.zeros((6, 9), np.int32)
    ids[:3], ids[3:, :4] = 70000, 3
    pan = PanopticMap(ids, (Segment(70000, 7, False), Segment(3, 1, True, iscrowd=True)))
    rgb, ann = pan.to_coco_panoptic(42, "000000000042.png")
    (tmp_path / "pred").mkdir()
    cv2.imwrite(str(tmp_path / "pred" / ann["file_name"]), rgb[..., ::-1])
    json_path = write_json(tmp_path / "pred.json", {"annotations": [ann], "categories": CATS})
    data, folder = read_coco_panoptic(json_path)
    assert folder == tmp_path / "pred" and data["annotations"][0]["image_id"] == 42
    ann = data["annotations"][0]
    back = read_panoptic_png(folder / ann["file_name"], (6, 9))
    assert (back == ids).all()
    assert {s["id"]: (s["category_id"], s["iscrowd"], s["area"]) for s in ann["segments_info"]} == {
        70000: (7, 0, 27), 3: (1, 1, 12)}


def test_real_panoptic_files_read(coco_root):
    data, folder = read_coco_panoptic(coco_root / "annotations" / "panoptic_val2017.json")
    assert folder.name == "panoptic_val2017" and len(data["annotations"]) == 3
    ann = data["annotations"][0]
    ids = read_panoptic_png(folder / ann["file_name"])
    assert set(np.unique(ids)) - {0} == {s["id"] for s in ann["segments_info"]}
    scratch = Scratch()  # a scorer's per-thread arrays: the ids are decoded into the same memory each time
    into = read_panoptic_png(folder / ann["file_name"], scratch=scratch)
    again = read_panoptic_png(folder / ann["file_name"], scratch=scratch)
    assert np.shares_memory(into, again) and np.array_equal(again, ids)
    other_png = next(folder / a["file_name"] for a in data["annotations"][1:]
                     if read_panoptic_png(folder / a["file_name"]).shape != ids.shape)
    other = read_panoptic_png(other_png, scratch=scratch)  # another size: a new array
    assert not np.shares_memory(other, into) and np.array_equal(other, read_panoptic_png(other_png))
    assert np.array_equal(read_panoptic_png(folder / ann["file_name"], scratch=scratch, name="other"), ids)


def test_panoptic_json_problems(tmp_path):
    (tmp_path / "p").mkdir()
    bad = {"annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": [{"id": 0, "category_id": 1}]}]}
    write_json(tmp_path / "p.json", bad)
    with pytest.raises(FormatError, match="p.json: image 1 has missing, repeated or zero segment ids"):
        read_coco_panoptic(tmp_path / "p.json")
    write_json(tmp_path / "p.json", {"annotations": [bad["annotations"][0] | {"segments_info": []}] * 2})
    with pytest.raises(FormatError, match="image id 1 has two annotations"):
        read_coco_panoptic(tmp_path / "p.json")
    write_json(tmp_path / "q.json", {"annotations": []})
    with pytest.raises(FormatError, match="PNG folder .*q for .*q.json does not exist"):
        read_coco_panoptic(tmp_path / "q.json")
    write_json(tmp_path / "p.json", [1, 2])
    with pytest.raises(FormatError, match="is not a COCO panoptic file"):
        read_coco_panoptic(tmp_path / "p.json")
    with pytest.raises(FormatError, match="missing.png is missing or unreadable"):
        read_panoptic_png(tmp_path / "missing.png")


def test_json_and_instances_problems(tmp_path, coco_root):
    with pytest.raises(FormatError, match="does not exist"):
        read_json(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("[")
    with pytest.raises(FormatError, match="x.json is not valid JSON"):
        read_json(tmp_path / "x.json")
    write_json(tmp_path / "x.json", {"images": []})
    with pytest.raises(FormatError, match="not a COCO instances file \\(missing annotations, categories\\)"):
        load_coco_gt(tmp_path / "x.json")
    gt = load_coco_gt(coco_root / "annotations" / "instances_val2017.json")
    with pytest.raises(FormatError, match="must hold a list"):
        load_coco_results(write_json(tmp_path / "r.json", {"a": 1}), gt)


def test_label_and_depth_pngs(tmp_path):
    small = SemanticMap(np.array([[0, 3], [255, 1]]), ("a", "b", "c", "d"))
    assert (read_label_png(write_label_png(tmp_path / "s.png", small)) == small.labels).all()
    big = np.array([[0, 300]])
    assert (read_label_png(write_label_png(tmp_path / "b.png", big)) == big).all()
    d = DepthMap(np.array([[1.234, 0.0], [9.5, np.nan]], np.float32))
    cv2.imwrite(str(tmp_path / "d.png"), d.to_png16())
    back = read_depth_png(tmp_path / "d.png")
    assert back.ravel().tolist() == pytest.approx([1.234, 0.0, 9.5, 0.0])
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(FormatError, match="label PNG .*rgb.png is RGB; it needs one channel"):
        read_label_png(tmp_path / "rgb.png")
    with pytest.raises(FormatError, match="depth PNG .*rgb.png is RGB; it needs one channel"):
        read_depth_png(tmp_path / "rgb.png")


def test_pair_folders(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for name in ("a.png", "b.png"):
        write_label_png(tmp_path / "gt" / name, np.zeros((2, 2)))
    write_label_png(tmp_path / "pred" / "a.png", np.zeros((2, 2)))
    with pytest.raises(FormatError, match="has no b.png for ground truth"):
        pair_folders(tmp_path / "gt", tmp_path / "pred")
    assert [p[0] for p in pair_folders(tmp_path / "gt", tmp_path / "pred", "a*.png")] == ["a"]
    with pytest.raises(FormatError, match="no \\*.jpg files"):
        pair_folders(tmp_path / "gt", tmp_path / "pred", "*.jpg")
    with pytest.raises(FormatError, match="folder .*nope does not exist"):
        pair_folders(tmp_path / "nope", tmp_path / "pred")
    assert json.loads((write_json(tmp_path / "deep" / "o.json", {"a": 1})).read_text()) == {"a": 1}
