"""Export: every result kind is written in its exchange format and reads back identically."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from seglab import DepthMap, Masks, PanopticMap, Segment, SemanticMap
from seglab.export import mask_to_polygons, write_result
from seglab.results import RleMasks, decode_rle


def _img():
    return np.full((30, 40, 3), 90, np.uint8)


def test_masks_json_png_and_polygons(tmp_path):
    m = np.zeros((2, 30, 40), bool)
    m[0, 5:10, 5:15] = True
    m[1, 12:28, 20:38] = True
    paths = write_result(Masks(m, [0.3, 0.8], labels=[1, 2], class_names={1: "a", 2: "b"}), tmp_path, _img())
    names = sorted(p.name for p in paths)
    assert names == ["result.json", "result_mask.png", "result_masks.png", "result_overlay.png"]
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["image_size"] == [30, 40]
    first = data["masks"][0]
    assert first["score"] == pytest.approx(0.8) and first["label"] == "b"
    rle = {"size": first["segmentation"]["size"], "counts": first["segmentation"]["counts"].encode()}
    np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), m[1])
    poly = mask_utils.frPyObjects(first["polygons"], 30, 40)
    assert mask_utils.iou(poly, [rle], [0]).max() > 0.8
    best = np.array(Image.open(tmp_path / "result_mask.png"))
    np.testing.assert_array_equal(best > 0, m[1])
    index = np.array(Image.open(tmp_path / "result_masks.png"))
    assert index[20, 30] == 1 and index[7, 7] == 2 and index[0, 0] == 0


def test_polygons_of_two_blobs():
    m = np.zeros((20, 20), bool)
    m[2:5, 2:5] = m[10:15, 10:15] = True
    assert len(mask_to_polygons(m)) == 2


def test_polygons_traced_in_the_box_equal_those_of_the_whole_mask(coco_root):
    """Real COCO instance masks (edges, holes, several parts): the same points as tracing the whole image."""
    from pycocotools.coco import COCO

    coco = COCO(str(coco_root / "annotations" / "instances_val2017.json"))
    anns = coco.loadAnns(coco.getAnnIds(imgIds=sorted(coco.getImgIds())[:3], iscrowd=None))
    empty = np.zeros((5, 7), bool)
    for m in [coco.annToMask(a).astype(bool) for a in anns] + [empty, ~empty]:
        whole, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        assert mask_to_polygons(m) == [c.reshape(-1).astype(float).tolist() for c in whole if len(c) >= 3]


def test_semantic_and_panoptic_files(tmp_path):
    labels = np.zeros((30, 40), np.int32)
    labels[10:] = 1
    write_result(SemanticMap(labels, ("bg", "fg")), tmp_path, stem="s")
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "s_labels.png")), labels)
    present = json.loads((tmp_path / "s_classes.json").read_text())["present"]
    assert [(c["name"], c["pixels"]) for c in present] == [("fg", 800), ("bg", 400)]

    ids = np.zeros((30, 40), np.int32)
    ids[:, :20] = 7
    pan = PanopticMap(ids, (Segment(7, 1, True, 0.9),), {1: "person"})
    write_result(pan, tmp_path, stem="p", image_id=3)
    ann = json.loads((tmp_path / "p_panoptic.json").read_text())
    assert ann["annotations"][0]["image_id"] == 3 and ann["categories"][0]["name"] == "person"
    back = PanopticMap.from_coco_panoptic(np.array(Image.open(tmp_path / "p_panoptic.png")),
                                          ann["annotations"][0]["segments_info"])
    np.testing.assert_array_equal(back.segment_ids, ids)


def test_depth_png16_npy_and_ply(tmp_path):
    d = np.full((30, 40), 1.234, np.float32)
    paths = write_result(DepthMap(d, focal_length_px=50.0), tmp_path, _img(), stem="d")
    assert {p.name for p in paths} >= {"d_depth16.png", "d_depth.npy", "d_points.ply", "d_depth_color.png"}
    png = np.array(Image.open(tmp_path / "d_depth16.png"))
    assert png.dtype == np.uint16 and png[0, 0] == 1234
    np.testing.assert_array_equal(np.load(tmp_path / "d_depth.npy"), d)
    raw = (tmp_path / "d_points.ply").read_bytes()
    header, body = raw.split(b"end_header\n", 1)
    assert b"element vertex 300" in header and len(body) == 300 * 15
    rel = write_result(DepthMap(d, kind="relative"), tmp_path / "rel", stem="r")
    assert not any(p.name.endswith("depth16.png") for p in rel)


def test_rle_masks_export_holds_every_mask(tmp_path):
    small = np.zeros((300, 15, 20), bool)  # 300 masks at a working resolution half the image's
    for i in range(300):
        small[i, i % 15, (i // 15) % 20] = True
    result = RleMasks.encode(small, np.linspace(1, 0.1, 300), image_size=(30, 40))
    paths = write_result(result, tmp_path, _img())
    assert sorted(p.name for p in paths) == ["result.json", "result_mask.png", "result_masks.png",
                                             "result_overlay.png"]
    data = json.loads((tmp_path / "result.json").read_text())
    assert len(data["masks"]) == 300 and data["image_size"] == [30, 40]
    for entry, i in zip(data["masks"], range(300)):  # best first: mask i has the i-th highest score
        np.testing.assert_array_equal(decode_rle(entry["segmentation"]), result.mask(i))
    index = np.array(Image.open(tmp_path / "result_masks.png"))
    assert index.dtype == np.uint16 and set(np.unique(index)) == set(range(1, 301))  # each mask its pixels
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "result_mask.png")) > 0, result.mask(0))
