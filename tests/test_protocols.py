"""Test protocols are data, named by every registry row and published number, and equal to the official files.

``tests/data/*_test_protocols.json`` hold the official values (keys verbatim as the framework names them, with
the files and commits they were read at); the tables below say which :class:`Protocol` field each key sets.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from seglab.errors import UnknownModelError
from seglab.protocols import PROTOCOLS, get_protocol, list_protocols
from seglab.registry import MODELS

DATA = Path(__file__).parent / "data"
OFFICIAL_FILES = ("maskformer_test_protocols.json", "segformer_test_protocols.json")


def _official() -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for name in OFFICIAL_FILES:
        merged.update(json.loads((DATA / name).read_text(encoding="utf-8")))
    return merged


def _detectron2(v: dict, task: str) -> dict:
    """The Protocol fields a detectron2 / Mask2Former / OneFormer config sets: the test resize and divisibility,
    the panoptic thresholds where it runs panoptic inference, the detections kept where it runs instance inference.
    (Mask2Former names its switches ``MODEL.MASK_FORMER.TEST.*``, OneFormer ``MODEL.TEST.*``.)"""
    test = next(k.removesuffix(".PANOPTIC_ON") for k in v if k.endswith("TEST.PANOPTIC_ON"))
    fields = {"resize": "shortest-edge", "size": (v["INPUT.MIN_SIZE_TEST"], v["INPUT.MAX_SIZE_TEST"]),
              "size_divisor": next(v[k] for k in v if k.endswith(".SIZE_DIVISIBILITY")), "inference": "whole",
              "object_mask_threshold": None, "overlap_threshold": None, "top_k": None}
    assert v["TEST.AUG.ENABLED"] is False  # single scale, no flip
    if v[f"{test}.PANOPTIC_ON"]:
        fields |= {"object_mask_threshold": v[f"{test}.OBJECT_MASK_THRESHOLD"],
                   "overlap_threshold": v[f"{test}.OVERLAP_THRESHOLD"]}
    if v[f"{test}.INSTANCE_ON"]:
        fields["top_k"] = v["TEST.DETECTIONS_PER_IMAGE"]
    return fields


def _mmseg(v: dict, task: str) -> dict:
    """The Protocol fields an mmseg (SegFormer) config's test pipeline and test_cfg set; ``AlignedResize`` rounds
    the resized sides to its ``size_divisor``, plain ``Resize`` does not."""
    assert v["test_pipeline.keep_ratio"] is True and v["test_pipeline.flip"] is False
    aligned = v["test_pipeline.resize_type"] == "AlignedResize"
    fields = {"resize": "keep-ratio", "size": tuple(v["test_pipeline.img_scale"]),
              "size_divisor": v["test_pipeline.size_divisor"] if aligned else 0, "inference": v["test_cfg.mode"]}
    if v["test_cfg.mode"] == "slide":
        fields |= {"crop": tuple(v["test_cfg.crop_size"]), "stride": tuple(v["test_cfg.stride"])}
    return fields


def _torchvision(v: dict, task: str) -> dict:
    base = v["get_transform.base_size"]
    assert v["SemanticSegmentation.resize_size"] == base  # the reference's and the weights' transforms agree
    return {"resize": "weights-transforms", "size": (base, base), "scored_at": "resized"}


FIELDS = {"detectron2": _detectron2, "mmseg": _mmseg, "torchvision": _torchvision}


def test_every_published_number_names_a_protocol_of_its_data_set_and_task():
    for m in MODELS:
        for p in m.published:
            if p.metric == "FPS":
                continue
            protocol = get_protocol(p.protocol)
            assert protocol.dataset == p.dataset, (m.id, p.metric)
            assert protocol.task == m.task, (m.id, p.metric)


def test_every_model_but_the_promptable_runs_a_protocol_of_its_task():
    for m in MODELS:
        if m.task == "promptable":
            assert m.protocol == "", m.id  # the benchmark's prompts decide (coco-gt-boxes, ...)
        else:
            assert get_protocol(m.protocol).task == m.task, m.id


def test_protocol_ids_are_unique_and_unknown_ids_are_refused():
    assert len({p.id for p in PROTOCOLS}) == len(PROTOCOLS)
    with pytest.raises(UnknownModelError, match="unknown protocol 'nope'"):
        get_protocol("nope")
    assert {p.task for p in list_protocols("panoptic")} == {"panoptic"}


def test_sliding_and_threshold_fields_come_together():
    for p in PROTOCOLS:
        assert (p.inference == "slide") == (p.crop is not None) == (p.stride is not None), p.id
        assert (p.object_mask_threshold is None) == (p.overlap_threshold is None), p.id
        assert p.describe(), p.id


def test_the_sam_paper_number_is_measured_with_detector_boxes_not_ground_truth():
    (ap,) = [p for m in MODELS if m.id == "sam-vit-huge" for p in m.published]
    protocol = get_protocol(ap.protocol)
    assert "ViTDet-H" in protocol.prompts and "class-aware" in protocol.metric


@pytest.mark.parametrize("name", OFFICIAL_FILES)
def test_official_values_name_their_files_and_commits(name):
    entries = json.loads((DATA / name).read_text(encoding="utf-8"))
    assert entries
    for protocol_id, entry in entries.items():
        get_protocol(protocol_id)
        assert entry["framework"] in FIELDS, protocol_id
        assert entry["files"], protocol_id
        for f in entry["files"]:
            assert f["repo"].count("/") == 1 and f["path"], protocol_id
            assert len(f["commit"]) == 40 and int(f["commit"], 16) >= 0, protocol_id


def test_protocols_equal_the_official_configs():
    official = _official()
    checked = set()
    for protocol_id, entry in official.items():
        protocol = get_protocol(protocol_id)
        for field, value in FIELDS[entry["framework"]](entry["values"], protocol.task).items():
            assert getattr(protocol, field) == value, f"{protocol_id}.{field}: {getattr(protocol, field)} != {value}"
        checked.add(protocol_id)
    runs_a_config = {m.protocol for m in MODELS if m.family in ("mask2former", "oneformer", "segformer", "tv-semantic")
                     and m.task != "part"}  # the part models' protocols: test_part_protocols_...
    published = {p.protocol for m in MODELS for p in m.published
                 if m.family in ("mask2former", "oneformer", "segformer", "tv-semantic")}
    unchecked = (runs_a_config | published) - checked
    assert not unchecked, f"not checked against an official file: {unchecked}"


def test_torchvision_protocols_equal_the_installed_weights_and_models():
    """Source: the installed torchvision: the segmentation weights' ``transforms()`` and Mask R-CNN's defaults."""
    from torchvision.models import get_model, get_model_weights

    voc = get_protocol("torchvision-voc-520")
    for m in MODELS:
        if m.family == "tv-semantic":
            assert list(get_model_weights(m.weights).DEFAULT.transforms().resize_size) == [voc.size[0]], m.id
    rcnn = get_protocol("torchvision-coco-maskrcnn")
    for m in MODELS:
        if m.family == "tv-maskrcnn":
            model = get_model(m.weights, weights=None, weights_backbone=None)
            assert (tuple(model.transform.min_size), model.transform.max_size) == ((rcnn.size[0],), rcnn.size[1])
            assert model.roi_heads.detections_per_img == rcnn.top_k and model.roi_heads.score_thresh == 0.05
            assert "box_score_thresh 0.05" in rcnn.score


def test_the_depth_anything_protocol_equals_the_official_code():
    """Source: the official package's ``infer_image`` default input size and its ``image2tensor`` Resize."""
    import inspect

    dpt = pytest.importorskip("depth_anything_v2.dpt", reason="the official depth-anything-v2 (requirements-dev.txt)")
    protocol = get_protocol("depth-anything-518")
    assert inspect.signature(dpt.DepthAnythingV2.infer_image).parameters["input_size"].default == protocol.size[0]
    resize = inspect.getsource(dpt.DepthAnythingV2.image2tensor)
    assert f"ensure_multiple_of={protocol.size_divisor}" in resize and "resize_method='lower_bound'" in resize
    assert {m.protocol for m in MODELS if m.family == "depth-anything"} == {protocol.id}


def test_part_protocols_score_at_the_official_testers_size():
    """Source: CelebAMask-HQ's face-parsing tester (``run_test.sh --imsize 512``, copied in tests/data): test
    images resized to 512 x 512 and scored there, the annotations' size. ATR has no official test code; its
    model card's 512 x 512 processor is the protocol, and no published number rests on it."""
    from seglab.datasets.celebamask_hq import SIZE

    official = json.loads((DATA / "celebamask_hq_g_mask.json").read_text(encoding="utf-8"))
    face = get_protocol("celebamask-hq-512")
    assert face.size == (official["tester"]["imsize"],) * 2 == SIZE and face.resize == "fixed"
    assert not [p for m in MODELS if m.task == "part" for p in m.published]
