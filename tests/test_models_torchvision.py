"""torchvision adapters: real architectures with random weights, loaded through seglab.load_model from a state dict."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
from torchvision.models import get_model, get_model_weights

import seglab
from seglab.models.torchvision_models import torchvision_is_cached


def _save_random(name: str, path: Path, **options) -> Path:
    torch.manual_seed(0)
    model = get_model(name, weights=None, weights_backbone=None,
                      num_classes=len(get_model_weights(name).DEFAULT.meta["categories"]), **options)
    state = model.state_dict()
    if "roi_heads.box_predictor.cls_score.bias" in state:  # random Mask R-CNN, made to call every box a person
        state["roi_heads.box_predictor.cls_score.weight"].zero_()
        state["roi_heads.box_predictor.cls_score.bias"][1] = 10.0
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tv")


def test_semantic_from_state_dict(weights_dir, coco_image):
    path = _save_random("deeplabv3_mobilenet_v3_large", weights_dir / "deeplab.pth", aux_loss=True)
    model = seglab.load_model("deeplabv3-mobilenet-v3-large", location=path)
    out = seglab.predict(model, coco_image, probabilities=True)
    h, w = coco_image.shape[:2]
    assert isinstance(out, seglab.SemanticMap)
    assert out.labels.shape == (h, w) and out.labels.dtype == np.int32
    assert out.class_names[0] == "__background__" and len(out.class_names) == 21
    assert out.probabilities.shape == (21, h, w)
    np.testing.assert_allclose(out.probabilities.sum(0), 1.0, atol=1e-4)
    at_label = np.take_along_axis(out.probabilities, out.labels[None].astype(np.int64), 0)[0]
    assert (at_label >= out.probabilities.max(0) - 1e-5).all()  # the label is the most probable class (ties aside)


def test_maskrcnn_from_state_dict(weights_dir, coco_image):
    path = _save_random("maskrcnn_resnet50_fpn", weights_dir / "maskrcnn.pth")
    model = seglab.load_model("maskrcnn-resnet50-fpn", location=path)
    out = seglab.predict(model, coco_image, threshold=0.5)
    h, w = coco_image.shape[:2]
    assert isinstance(out, seglab.Masks) and len(out) > 0
    assert out.masks.shape[1:] == (h, w) and out.masks.dtype == bool
    assert (out.scores >= 0.5).all() and out.boxes.shape == (len(out), 4)
    assert (out.labels == 1).all() and out.class_names[1] == "person" and out.label_name(0) == "person"
    assert 12 not in out.class_names and len(out.class_names) == 80  # COCO ids: 12 is unused ('N/A' in the list)


def test_wrong_state_dict_is_a_clear_error(weights_dir):
    path = weights_dir / "not-a-model.pth"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(seglab.WeightsUnavailableError, match="does not hold"):
        seglab.load_model("fcn-resnet50", location=path)


def test_offline_without_cache_names_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = seglab.get_spec("maskrcnn-resnet50-fpn-v2")
    assert not torchvision_is_cached(spec) and not seglab.is_available(spec.id)
    with pytest.raises(seglab.WeightsUnavailableError, match="python -m seglab download maskrcnn-resnet50-fpn-v2"):
        seglab.load_model(spec.id)


def test_is_cached_looks_in_the_torch_hub_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = seglab.get_spec("fcn-resnet50")
    assert not torchvision_is_cached(spec)
    name = os.path.basename(urlparse(get_model_weights("fcn_resnet50").DEFAULT.url).path)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / name).write_bytes(b"")
    assert torchvision_is_cached(spec) and seglab.is_available(spec.id)


_METRIC_NAMES = {"miou": "mIoU", "mask_map": "AP", "box_map": "box AP"}


@pytest.mark.parametrize("spec", [m for m in seglab.MODELS if m.source == "torchvision"], ids=lambda m: m.id)
def test_published_numbers_match_the_weights_metadata(spec):
    (metrics,) = get_model_weights(spec.weights).DEFAULT.meta["_metrics"].values()
    expected = {_METRIC_NAMES[k]: v for k, v in metrics.items() if k in _METRIC_NAMES}
    assert {p.metric: p.value for p in spec.published} == expected
