"""The registry is data: every task and family is covered, ids are unique, adapters resolve."""
import importlib

import pytest

from seglab import TASKS, UnknownModelError, default_model, get_spec, list_models
from seglab.datasets import LABEL_SETS
from seglab.registry import ADAPTERS, MODELS, ModelSpec


def test_every_task_has_models_and_an_offline_promptable_default():
    for task in TASKS:
        assert list_models(task), task
    d = default_model("promptable")
    assert d.offline and "offline" in d.description.lower()


@pytest.mark.parametrize("needle", [
    "sam-vit-base", "sam-vit-large", "sam-vit-huge", "sam-hq-vit-base", "sam2.1-hiera-tiny", "sam2.1-hiera-large",
    "sam3", "grounding-dino-tiny+sam-vit-base", "owlv2-base+sam-vit-base", "fcn-resnet50", "fcn-resnet101",
    "deeplabv3-resnet50", "segformer-b0-ade", "mask2former-swin-tiny-ade-semantic", "maskrcnn-resnet50-fpn",
    "maskrcnn-resnet50-fpn-v2", "mask2former-swin-tiny-coco-instance", "mask2former-swin-tiny-coco-panoptic",
    "mask2former-swin-large-coco-panoptic", "oneformer-swin-large-coco", "depth-pro", "depth-anything-v2-small",
])
def test_lecture_models_are_listed(needle):
    assert get_spec(needle).id == needle


def test_rows_are_consistent():
    for m in MODELS:
        assert m.task in TASKS
        assert m.family in ADAPTERS, f"{m.id}: no adapter for family {m.family}"
        assert m.license and m.input_size and m.weights
        assert (m.task == "promptable") == bool(m.prompts), m.id
        for p in m.published:
            assert p.source and p.dataset and 0 < p.value <= 100
        j = m.to_json()
        assert {"id", "task", "hub_id", "license", "offline", "published"} <= set(j)


def test_label_sets_and_backbones_are_data_of_every_entry():
    for m in MODELS:
        if m.task in ("promptable", "depth"):
            assert m.labels == "", m.id
        else:
            assert m.labels in LABEL_SETS, f"{m.id}: unknown label set {m.labels!r}"
        assert m.backbone or m.id == "sam3", f"{m.id}: no backbone"
    assert get_spec("mask2former-swin-large-coco-panoptic-semantic").labels == "coco-panoptic-133"
    assert get_spec("segformer-b0-cityscapes").labels == "cityscapes-19"
    assert get_spec("sam-hq-vit-huge").backbone == "ViT-H"
    assert all("slide" not in k for m in MODELS for k in m.extra)  # nothing reads a sliding-window setting


def test_entries_are_keyword_rows():
    with pytest.raises(TypeError):
        ModelSpec("x", "depth", "depth-pro", "hf", "w", input_size="1", license="MIT")  # positional: refused


def test_adapter_paths_are_importable_names():
    module, _, name = ADAPTERS["embedded"].partition(":")
    assert hasattr(importlib.import_module(module), name)


def test_unknown_model_suggests_close_ids():
    with pytest.raises(UnknownModelError, match="did you mean sam-vit-base"):
        get_spec("sam-vit-bse")
    with pytest.raises(UnknownModelError, match="seglab models"):
        get_spec("zzz")
    with pytest.raises(UnknownModelError, match="unknown task"):
        list_models("video")


def test_published_value_lookup():
    assert get_spec("mask2former-swin-large-coco-panoptic").published_value("PQ") == 57.8
    assert get_spec("sam-vit-base").published_value("PQ") is None
