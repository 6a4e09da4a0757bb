"""Segment everything: filters, NMS, small regions, crops and progress on a stand-in decoder whose masks
are known; then the real paths on a tiny SAM and on the offline default model."""
from __future__ import annotations

import math
import threading
import time
import tracemalloc

import cv2
import numpy as np
import pytest
import torch

import seglab
from seglab.everything import (Cancelled, EverythingParams, PointBatchPredictor, crop_boxes, estimate_seconds, mask_boxes,
                               near_crop_edge, point_grid, remove_small_regions, segment_everything,
                               stability_score)
from seglab.results import decode_rle

SIZE = 64


class SquareDecoder:
    """A decoder stand-in: each point prompt gets one square mask around it (logits +/- ``magnitude``),
    with predicted IoU ``iou(x, y)``; its 'low-resolution' grid is the image itself."""

    def __init__(self, half=4, iou=lambda x, y: 0.95, magnitude=lambda x, y: 10.0, same_square=False):
        self.half, self.iou, self.magnitude, self.same_square = half, iou, magnitude, same_square
        self.embedded = []

    def embed(self, image):
        self.embedded.append(image.shape[:2])
        return image.shape[:2]

    def predict_points_batch(self, embedding, points, min_iou=None):
        h, w = embedding
        logits = torch.empty(len(points), h, w)
        for i, (x, y) in enumerate(points):
            cx, cy = (w // 2, h // 2) if self.same_square else (int(x), int(y))
            m = self.magnitude(x, y)
            logits[i] = -m
            logits[i, max(cy - self.half, 0):cy + self.half, max(cx - self.half, 0):cx + self.half] = m
        iou = torch.tensor([self.iou(x, y) for x, y in points], dtype=torch.float32)
        keep = iou > min_iou if min_iou is not None else torch.ones(len(iou), dtype=torch.bool)
        return logits[keep], iou[keep]

    def upscale_logits(self, embedding, logits):
        return logits


@pytest.fixture
def image():
    return np.zeros((SIZE, SIZE, 3), np.uint8)


def test_nms_removes_exact_duplicates(image):
    out = segment_everything(SquareDecoder(same_square=True), image, EverythingParams(points_per_side=4))
    assert len(out.masks) == 1
    expected = np.zeros((SIZE, SIZE), bool)
    expected[28:36, 28:36] = True
    np.testing.assert_array_equal(out.masks.masks[0], expected)


def test_predicted_iou_and_stability_filters(image):
    # 4 x 4 grid at 8, 24, 40, 56: distinct squares. Left half: confident; top half: unstable (logits +/-0.5)
    dec = SquareDecoder(iou=lambda x, y: 0.95 if x < 32 else 0.5, magnitude=lambda x, y: 0.5 if y < 32 else 10.0)
    out = segment_everything(dec, image, EverythingParams(points_per_side=4))
    centres = sorted((int(b[0]) + 4, int(b[1]) + 4) for b in out.masks.boxes)
    assert centres == [(8, 40), (8, 56), (24, 40), (24, 56)]
    assert (out.masks.scores > 0.88).all()
    loose = segment_everything(dec, image, EverythingParams(points_per_side=4, pred_iou_thresh=0.0,
                                                            stability_score_thresh=0.0))
    assert len(loose.masks) == 16


def test_progress_is_called_per_batch_and_time_is_reported(image):
    calls = []
    params = EverythingParams(points_per_side=10, points_per_batch=30)
    out = segment_everything(SquareDecoder(), image, params, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 4) for i in range(1, 5)]
    assert (out.points, out.batches) == (100, 4)
    assert out.seconds > 0 and f"{out.seconds:.1f} s" in out.masks.note


def test_estimate_is_positive_and_embeds_only_what_the_run_needs(image):
    dec = SquareDecoder()
    assert estimate_seconds(dec, image, EverythingParams(points_per_side=8)) > 0
    assert dec.embedded == [(SIZE, SIZE)]


def test_sorted_by_area_or_score(image):
    dec = SquareDecoder(half=3, iou=lambda x, y: 0.9 + x / 1000)
    by_area = segment_everything(dec, image, EverythingParams(points_per_side=4)).masks
    by_score = segment_everything(dec, image, EverythingParams(points_per_side=4, sort_by="score")).masks
    assert np.all(np.diff(by_area.areas) <= 0) and np.all(np.diff(by_score.scores) <= 0)
    assert len(by_area) == 16  # squares cut by the image edge are smaller but kept


def test_small_islands_and_holes_are_removed():
    m = np.zeros((1, 40, 40), bool)
    m[0, 5:30, 5:30] = True
    m[0, 10:12, 10:12] = False  # a 4-pixel hole
    m[0, 35:37, 35:37] = True  # a 4-pixel island
    masks, scores = remove_small_regions(m, np.array([0.9], np.float32), min_area=10, nms_thresh=0.7)
    expected = np.zeros((40, 40), bool)
    expected[5:30, 5:30] = True
    np.testing.assert_array_equal(masks[0], expected)
    assert scores.tolist() == pytest.approx([0.9])


def test_crops_cover_the_image_and_cut_off_masks_are_dropped():
    crops = crop_boxes(100, 150, n_layers=1, overlap_ratio=512 / 1500)
    assert [layer for layer, _ in crops] == [0, 1, 1, 1, 1]
    assert max(c[2] for _, c in crops) == 150 and max(c[3] for _, c in crops) == 100
    # a box touching the right edge of the top-left crop (not an image edge) is cut off
    _, top_left = crops[1]
    edge = torch.tensor([[10.0, 10.0, top_left[2] - top_left[0], 30.0], [10.0, 10.0, 30.0, 30.0]])
    assert near_crop_edge(edge, top_left, (150, 100)).tolist() == [True, False]


def test_crop_layers_run_every_crop(image):
    dec = SquareDecoder(half=2)
    out = segment_everything(dec, image, EverythingParams(points_per_side=4, crop_n_layers=1))
    assert len(set(dec.embedded)) >= 2 and len(dec.embedded) == out.batches
    assert out.masks.image_size == (SIZE, SIZE)


def test_helpers():
    g = point_grid(4)
    assert g.shape == (16, 2) and g.min() == pytest.approx(1 / 8) and g.max() == pytest.approx(7 / 8)
    logits = torch.tensor([[[3.0, 0.5], [-0.5, -3.0]]])
    assert stability_score(logits, 0.0, 1.0).tolist() == pytest.approx([1 / 3])
    masks = torch.zeros(2, 5, 6, dtype=torch.bool)
    masks[0, 1:3, 2:5] = True
    assert mask_boxes(masks).tolist() == [[2, 1, 4, 2], [0, 0, 0, 0]]  # right/bottom inclusive, as the reference


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    from test_models_sam import FAMILY_IDS, save_tiny

    folder = save_tiny("sam", tmp_path_factory.mktemp("tiny-sam-everything"))
    return seglab.load_model(FAMILY_IDS["sam"], location=folder)


def test_sam_predictor_takes_the_batched_path(tiny_sam, coco_image):
    assert isinstance(tiny_sam, PointBatchPredictor)
    params = EverythingParams(points_per_side=4, points_per_batch=8, pred_iou_thresh=-1.0,
                              stability_score_thresh=0.0, min_mask_region_area=20)
    out = segment_everything(tiny_sam, coco_image, params)
    assert out.batches == 2 and len(out.masks) >= 1
    assert out.masks.image_size == coco_image.shape[:2]
    coco = out.to_coco(image_id=397133)
    assert len(coco) == len(out.masks)
    assert decode_rle(coco[0]["segmentation"]).sum() == coco[0]["area"]


def test_offline_default_answers_segment_everything(coco_image):
    embedded = seglab.load_model("embedded-u2netp-grabcut")
    assert not isinstance(embedded, PointBatchPredictor)
    small = coco_image[::4, ::4].copy()
    params = EverythingParams(fallback_points_per_side=2)
    out = segment_everything(embedded, small, params)
    assert out.points == 0  # it proposes its own objects (a Proposer), no point grid
    assert len(out.masks) >= 1 and out.masks.image_size == small.shape[:2]
    assert math.isfinite(estimate_seconds(embedded, small, params))


# --- compact masks, cancel, estimate and progress ------------------------------------------------------------
class EllipseProposer:
    """A proposer stand-in: ``n`` ellipses on whatever image it is given, scored 1 - i / n, one 'tree' per
    third of them (``progress`` after each); ``pause`` seconds inside each tree."""

    def __init__(self, n=90, pause=0.0):
        self.n, self.pause, self.sizes = n, pause, []

    def propose(self, image, progress=None):
        h, w = image.shape[:2]
        self.sizes.append((h, w))
        masks = np.zeros((self.n, h, w), np.uint8)
        for i in range(self.n):
            centre = (int(w * (0.1 + 0.8 * (i % 10) / 9)), int(h * (0.1 + 0.8 * (i // 10) / 8)))
            cv2.ellipse(masks[i], centre, (w // 25 + i % 3, h // 30), 0, 0, 360, 1, -1)
            if progress is not None and (i + 1) % (self.n // 3) == 0:
                time.sleep(self.pause)
                progress((i + 1) // (self.n // 3), 3)
        return seglab.Masks(masks.astype(bool), 1 - np.arange(self.n) / self.n)

    def estimate_propose_seconds(self, image):
        return 3 * self.pause


def test_a_12_megapixel_photo_keeps_every_mask_in_megabytes():
    photo = np.zeros((3000, 4000, 3), np.uint8)
    proposer = EllipseProposer()
    tracemalloc.start()
    out = segment_everything(proposer, photo, EverythingParams(box_nms_thresh=0.7, score_thresh=0.0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert proposer.sizes == [(480, 640)]  # proposed on the image at PROPOSAL_SIDE
    assert len(out.masks) == 90 and out.masks.image_size == (3000, 4000)
    assert out.masks.nbytes < 2**20  # 90 full-size bool masks: 1 GB
    assert peak < 200 * 2**20  # the proposals at 640 x 480 (28 MB) and their copies, never full size (1 GB)
    full = out.masks.mask(0)
    assert full.shape == (3000, 4000) and full.sum() == out.masks.areas[0]


def test_every_generic_filter_acts_on_a_proposer(image):
    proposer = EllipseProposer(n=30)
    plain = segment_everything(proposer, image, EverythingParams(score_thresh=0.0, box_nms_thresh=1.0))
    scored = segment_everything(proposer, image, EverythingParams(score_thresh=0.5, box_nms_thresh=1.0))
    assert len(plain.masks) == 30 and 0 < len(scored.masks) < 30 and (scored.masks.scores >= 0.5).all()
    merged = segment_everything(proposer, image, EverythingParams(score_thresh=0.0, box_nms_thresh=0.05))
    assert len(merged.masks) < 30  # neighbours' boxes overlap a little
    # a mask with a hole and a speck: both go under min_mask_region_area
    holed = np.zeros((1, SIZE, SIZE), bool)
    holed[0, 10:40, 10:40], holed[0, 20:22, 20:22], holed[0, 50:52, 50:52] = True, False, True

    class One(EllipseProposer):
        def propose(self, image, progress=None):
            return seglab.Masks(holed, [0.9])

    cleaned = segment_everything(One(), image, EverythingParams(min_mask_region_area=10)).masks.mask(0)
    expected = np.zeros((SIZE, SIZE), bool)
    expected[10:40, 10:40] = True
    np.testing.assert_array_equal(cleaned, expected)


def test_a_proposer_reports_progress_per_tree(image):
    calls = []
    segment_everything(EllipseProposer(), image, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


class SlowDecoder(SquareDecoder):
    def __init__(self, pause):
        super().__init__()
        self.pause = pause

    def predict_points_batch(self, embedding, points, min_iou=None):
        time.sleep(self.pause)
        return super().predict_points_batch(embedding, points, min_iou)


def test_the_estimate_is_within_2x_of_the_run(image):
    # 4 batches, each a 0.3 s decoder call (as a real decoder's time dominates; the shared test machine's noise does not)
    dec, params = SlowDecoder(0.3), EverythingParams(points_per_side=4, points_per_batch=4)
    estimate = estimate_seconds(dec, image, params)
    real = segment_everything(dec, image, params).seconds
    assert 0.5 <= estimate / real <= 2


def test_cancel_stops_between_batches_and_says_how_far_it_came(image):
    cancel = threading.Event()
    with pytest.raises(Cancelled, match="cancelled after 1 of 8 batches"):
        segment_everything(SlowDecoder(0.05), image, EverythingParams(points_per_side=8, points_per_batch=8),
                           progress=lambda d, t: cancel.set(), cancel=cancel)


def test_cancel_returns_within_2_s_even_inside_a_long_step(image):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.perf_counter()
    with pytest.raises(Cancelled, match="cancelled before its first batch was done"):
        segment_everything(EllipseProposer(n=30, pause=5.0), image, cancel=cancel)  # 5 s inside each 'tree'
    assert time.perf_counter() - start < 0.3 + 2


def test_the_estimate_is_cancelled_within_2_s_too(image):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.perf_counter()
    with pytest.raises(Cancelled):
        estimate_seconds(SlowDecoder(5.0), image, EverythingParams(points_per_side=4), cancel=cancel)
    assert time.perf_counter() - start < 0.3 + 2


def test_the_registrys_everything_paths_are_the_adapters_own():
    """EVERYTHING_PATHS (read by the app without importing torch) names each family's path as its adapter class
    takes it: a point-batch decoder, its own proposer, or single-point prompts."""
    from seglab.everything import PointBatchPredictor, Proposer
    from seglab.loading import adapter_class
    from seglab.registry import EVERYTHING_PATHS

    for spec in seglab.list_models("promptable"):
        cls = adapter_class(spec)
        kind = "decoder" if issubclass(cls, PointBatchPredictor) else "proposer" if issubclass(cls, Proposer) else \
            "prompts"
        assert EVERYTHING_PATHS.get(spec.family, "prompts") == kind, spec.id
