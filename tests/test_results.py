"""Typed results: validation, conversions to COCO formats round-trip through pycocotools."""
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from seglab import DepthMap, Masks, PanopticMap, Segment, SemanticMap
from seglab.results import RleMasks, decode_rle, encode_rle, id_to_rgb, masks_to_boxes, rgb_to_id


def _masks() -> Masks:
    m = np.zeros((3, 40, 60), bool)
    m[0, 5:15, 10:30] = True
    m[1, 20:40, 0:60] = True
    m[2, 0:2, 0:2] = True
    return Masks(m, [0.2, 0.9, 0.5], labels=[3, 1, 2], class_names={1: "person", 2: "car", 3: "dog"})


def test_masks_are_frozen_and_readonly():
    r = _masks()
    with pytest.raises(ValueError):
        r.masks[0, 0, 0] = True
    with pytest.raises(AttributeError):
        r.scores = np.zeros(3)  # type: ignore[misc]


def test_masks_validate_shapes():
    with pytest.raises(ValueError, match="3 masks but 2 scores"):
        Masks(np.zeros((3, 4, 4), bool), [1, 2])
    with pytest.raises(ValueError, match="N x H x W"):
        Masks(np.zeros((4, 4), bool), [1])


def test_boxes_derived_from_masks_match_pycocotools():
    r = _masks()
    rles = [mask_utils.encode(np.asfortranarray(m.astype(np.uint8))) for m in r.masks]
    xywh = mask_utils.toBbox(rles)
    np.testing.assert_allclose(r.boxes[:, :2], xywh[:, :2])
    np.testing.assert_allclose(r.boxes[:, 2:] - r.boxes[:, :2], xywh[:, 2:])
    assert masks_to_boxes(np.zeros((1, 5, 5), bool)).tolist() == [[0, 0, 0, 0]]


def test_sorted_and_select_keep_fields_aligned():
    r = _masks().sorted("score")
    assert r.scores.tolist() == pytest.approx([0.9, 0.5, 0.2])
    assert r.labels.tolist() == [1, 2, 3]
    assert r.label_name(0) == "person"
    by_area = _masks().sorted("area")
    assert by_area.areas.tolist() == sorted(by_area.areas.tolist(), reverse=True)
    picked = _masks().select(np.array([False, True, True]))
    assert picked.scores.tolist() == pytest.approx([0.9, 0.5]) and picked.labels.tolist() == [1, 2]
    assert picked.boxes.tolist() == _masks().boxes[1:].tolist()
    assert len(Masks.empty(4, 5, note="nothing")) == 0 and Masks.empty(4, 5).image_size == (4, 5)


def test_coco_round_trip_through_rle():
    r = _masks()
    entries = r.to_coco(image_id=7)
    assert [e["score"] for e in entries] == sorted((e["score"] for e in entries), reverse=True)
    assert all(isinstance(e["segmentation"]["counts"], str) for e in entries)
    assert entries[0]["image_id"] == 7 and entries[0]["category_id"] == 1
    seg = entries[0]["segmentation"]
    assert entries[0]["area"] == int(mask_utils.area({"size": seg["size"], "counts": seg["counts"].encode()}))
    order = np.argsort(-r.scores)
    np.testing.assert_array_equal(np.stack([decode_rle(e["segmentation"]) for e in entries]), r.masks[order])
    np.testing.assert_allclose([e["score"] for e in entries], r.scores[order])


def test_rle_helpers_accept_uncompressed_counts():
    m = np.zeros((6, 7), bool)
    m[1:4, 2:5] = True
    assert (decode_rle(encode_rle(m)) == m).all()
    uncompressed = {"size": [6, 7], "counts": [9, 3, 3, 3, 3, 3, 18]}  # column-major runs
    assert decode_rle(uncompressed).sum() == 9


def test_semantic_map_present_and_png():
    labels = np.array([[0, 0, 1], [255, 2, 2]])
    s = SemanticMap(labels, ("bg", "cat", "dog"))
    assert s.present() == [(0, "bg", 2), (2, "dog", 2), (1, "cat", 1)]
    assert s.to_png_array().dtype == np.uint8
    assert SemanticMap(labels, tuple(map(str, range(300)))).to_png_array().dtype == np.uint16


def test_panoptic_round_trip_with_coco_png_encoding():
    ids = np.zeros((20, 30), np.int32)
    ids[:10] = 300  # needs the G channel
    ids[10:, 5:25] = 70000  # needs the B channel
    pan = PanopticMap(ids, (Segment(300, 1, True, 0.8), Segment(70000, 184, False)), {1: "person", 184: "tree"})
    rgb, ann = pan.to_coco_panoptic(np.int64(5), "x.png")
    assert ann["image_id"] == 5 and type(ann["image_id"]) is int  # JSON-ready
    assert pan.to_coco_panoptic("frankfurt_000000_000294", "x.png")[1]["image_id"] == "frankfurt_000000_000294"
    assert rgb.dtype == np.uint8 and rgb.shape == (20, 30, 3)
    assert {s["id"]: s["area"] for s in ann["segments_info"]} == {300: 300, 70000: 200}
    assert ann["segments_info"][1]["bbox"] == [5, 10, 20, 10]
    back = PanopticMap.from_coco_panoptic(rgb, ann["segments_info"])
    np.testing.assert_array_equal(back.segment_ids, ids)
    assert back.segments == pan.segments
    sem = pan.to_semantic(("person", "tree"), {1: 0, 184: 1})
    assert sem.labels[0, 0] == 0 and sem.labels[15, 10] == 1 and sem.labels[15, 0] == 255


def test_panoptic_rejects_duplicate_or_void_ids():
    with pytest.raises(ValueError, match="unique and non-zero"):
        PanopticMap(np.zeros((2, 2)), (Segment(0, 1, True),))


def test_depth_png16_points_and_validity():
    d = np.full((4, 6), 2.5, np.float32)
    d[0, 0] = np.nan
    dm = DepthMap(d, focal_length_px=3.0)
    png = dm.to_png16()
    assert png.dtype == np.uint16 and png[1, 1] == 2500 and png[0, 0] == 0
    assert dm.range() == (2.5, 2.5)
    pts, cols = dm.to_points(np.zeros((4, 6, 3), np.uint8))
    assert pts.shape == (23, 3) and cols.shape == (23, 3)
    # the pixel at the principal point back-projects onto the optical axis
    centre = pts[np.argmin(np.abs(pts[:, 0]) + np.abs(pts[:, 1]))]
    assert centre[0] == 0 and centre[1] == 0 and centre[2] == pytest.approx(2.5)
    with pytest.raises(ValueError, match="relative"):
        DepthMap(d, kind="relative").to_png16()


def test_panoptic_id_codec_is_r_plus_256g_plus_65536b_both_ways():
    rgb = np.array([[[1, 2, 3], [255, 255, 255], [0, 0, 0]]], np.uint8)
    ids = rgb_to_id(rgb)
    assert ids.dtype == np.uint32 and ids.tolist() == [[1 + 2 * 256 + 3 * 65536, 2**24 - 1, 0]]
    assert rgb_to_id(rgb[..., ::-1].copy(), bgr=True).tolist() == ids.tolist()
    assert np.array_equal(id_to_rgb(ids), rgb)
    random_ids = np.random.default_rng(0).integers(0, 2**24, (7, 9))
    assert np.array_equal(rgb_to_id(id_to_rgb(random_ids)), random_ids)


def test_class_names_are_an_id_to_name_dict_in_every_result():
    sem = SemanticMap(np.array([[0, 1], [2, 255]]), ["sky", "road", "car"])
    assert sem.class_names == {0: "sky", 1: "road", 2: "car"} and sem.name(np.int32(1)) == "road"
    assert sem.name(7) == "7" and SemanticMap(sem.labels, {0: "sky"}).class_names == {0: "sky"}
    pan = PanopticMap(np.ones((2, 2), np.int32), (Segment(1, 5, True),), {5: "dog"})
    assert type(sem.class_names) is type(pan.class_names) is type(_masks().class_names) is dict


def test_rle_masks_round_trip_and_read_as_masks():
    masks = _masks()
    rle = RleMasks.encode(masks)
    np.testing.assert_array_equal(rle.masks, masks.masks)
    np.testing.assert_array_equal(rle.boxes, masks.boxes)
    np.testing.assert_array_equal(rle.areas, masks.areas)
    assert rle.image_size == (40, 60) and len(rle) == 3 and rle.note == masks.note
    assert [e["area"] for e in rle.to_coco()] == [e["area"] for e in masks.to_coco()]
    assert [e["segmentation"] for e in rle.to_coco()] == [e["segmentation"] for e in masks.to_coco()]
    np.testing.assert_array_equal(rle.sorted("area").masks, masks.sorted("area").masks)
    np.testing.assert_array_equal(rle.select([2, 0]).masks, masks.masks[[2, 0]])
    with pytest.raises(ValueError, match="3 masks but 2 scores"):
        RleMasks(rle.rles, [1, 2], (40, 60))


def test_rle_masks_at_a_working_resolution_are_exact_at_the_image_size():
    rng = np.random.default_rng(0)
    small = rng.random((4, 13, 17)) > 0.6
    small[3] = False  # an empty mask
    rle = RleMasks.encode(small, np.arange(4), image_size=(40, 51))
    rows, cols = np.arange(40) * 13 // 40, np.arange(51) * 17 // 51  # nearest: image row i is working row i*h//H
    expected = small[:, rows][:, :, cols]
    np.testing.assert_array_equal(rle.masks, expected)
    np.testing.assert_array_equal(rle.areas, expected.sum((1, 2)))
    np.testing.assert_array_equal(rle.boxes, masks_to_boxes(expected))
    for entry in rle.to_coco():  # full-size RLE in the downloads
        assert entry["segmentation"]["size"] == [40, 51] and decode_rle(entry["segmentation"]).sum() == entry["area"]
    display = rle.resized((13, 17))
    assert display.rle_size == (13, 17) and display.image_size == (13, 17)


def test_rle_masks_of_a_12_megapixel_photo_take_kilobytes():
    m = np.zeros((20, 3000, 4000), bool)
    for i in range(20):
        m[i, 100 * i:100 * i + 900, 150 * i:150 * i + 1500] = True
    rle = RleMasks.encode(m, np.ones(20))
    assert rle.nbytes < 200_000 < m.nbytes // 1000  # 240 MB as bool
    np.testing.assert_array_equal(rle.mask(7), m[7])
