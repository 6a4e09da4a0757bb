"""Loading through the registry: bounded model cache, offline errors, one predict entry point."""
import re

import numpy as np
import pytest
import transformers

import seglab
from seglab import loading
from seglab.errors import UnsupportedTaskError, WeightsUnavailableError
from seglab.models.base import hf_is_cached, hf_load, resolve_device, torch_dtype


class _Fake:
    loads = 0

    def __init__(self, spec):
        self.spec = spec

    @classmethod
    def load(cls, spec, location, device, dtype):
        cls.loads += 1
        return cls(spec)

    def predict(self, image, prompt=None, **options):
        h, w = image.shape[:2]
        return seglab.Masks(np.ones((1, h, w), bool), [1.0], note=str(sorted(options)))


@pytest.fixture
def fake_adapters(monkeypatch):
    loading.clear_cache()
    _Fake.loads = 0
    monkeypatch.setattr(loading, "adapter_class", lambda spec: _Fake)
    monkeypatch.setattr(loading._models, "max_size", 2)
    yield
    loading.clear_cache()


def test_models_are_cached_with_a_bound(fake_adapters):
    a = seglab.load_model("sam-vit-base", device="cpu")
    assert seglab.load_model("sam-vit-base", device="cpu") is a and _Fake.loads == 1
    seglab.load_model("sam-vit-large", device="cpu")
    seglab.load_model("sam-vit-huge", device="cpu")  # evicts sam-vit-base (least recent)
    seglab.load_model("sam-vit-base", device="cpu")
    assert _Fake.loads == 4


def test_predict_validates_prompts_against_the_model(fake_adapters):
    img = np.zeros((20, 30, 3), np.uint8)
    out = seglab.predict("sam-vit-base", img, seglab.Prompt.build(points=[(5, 5)]))
    assert out.masks.shape == (1, 20, 30)
    with pytest.raises(seglab.InvalidPromptError, match="no prompt"):
        seglab.predict("sam-vit-base", img)
    with pytest.raises(UnsupportedTaskError, match="does not take text"):
        seglab.predict("sam-vit-base", img, seglab.Prompt(text="dog"))
    with pytest.raises(UnsupportedTaskError, match="takes no prompt"):
        seglab.predict("fcn-resnet50", img, seglab.Prompt.build(points=[(5, 5)]))
    assert seglab.predict("fcn-resnet50", img, threshold=0.3).note == "['threshold']"


def test_hub_model_missing_offline_names_the_download_command():
    spec = seglab.get_spec("sam-vit-base")
    with pytest.raises(WeightsUnavailableError, match="python -m seglab download sam-vit-base`, or choose the "
                                                     "offline model 'embedded-u2netp-grabcut'"):
        hf_load(transformers.SamModel, spec, None)
    with pytest.raises(WeightsUnavailableError, match="download segformer-b0-ade`.$"):  # no offline semantic model
        hf_load(transformers.SegformerForSemanticSegmentation, seglab.get_spec("segformer-b0-ade"), None)
    assert not seglab.is_available("sam-vit-base")
    assert seglab.is_available("embedded-u2netp-grabcut")


def test_local_location_errors_name_the_folder(tmp_path):
    with pytest.raises(WeightsUnavailableError, match=str(tmp_path)):
        hf_load(transformers.SamModel, seglab.get_spec("sam-vit-base"), tmp_path)


def test_device_and_dtype_resolution():
    assert resolve_device("cpu") == "cpu" and resolve_device(None) in ("cpu", "cuda", "mps")
    import torch

    assert torch_dtype("bfloat16", "cpu") == torch.bfloat16
    assert torch_dtype("float16", "cpu") == torch.float32
    with pytest.raises(ValueError, match="unknown dtype"):
        torch_dtype("int8", "cpu")


def test_embedded_default_runs_offline_end_to_end(coco_image):
    out = seglab.predict("embedded-u2netp-grabcut", coco_image, seglab.Prompt.build(box=[380, 60, 520, 360]))
    assert isinstance(out, seglab.Masks) and out.masks.shape == (1, 427, 640)
    assert out.masks[0].any() and not out.masks[0, :, :300].any()


@pytest.mark.parametrize("model_id", sorted({s.family: s.id for s in seglab.MODELS if s.source == "hf"}.values()))
def test_every_hub_family_missing_offline_names_the_download_command(model_id):
    spec = seglab.get_spec(model_id)
    if hf_is_cached(spec.weights):
        pytest.skip(f"{spec.weights} is in the local Hub cache")
    with pytest.raises(WeightsUnavailableError, match=re.escape(f"python -m seglab download {model_id}")):
        seglab.load_model(model_id)


def test_require_weights_is_the_cheap_offline_check(monkeypatch):
    """Offline, a model whose weights are not cached is refused with the download command; the embedded model
    and any model while the Hub is reachable pass (the first run downloads)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match=re.escape("python -m seglab download sam-vit-huge")):
        seglab.require_weights("sam-vit-huge")
    seglab.require_weights("embedded-u2netp-grabcut")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    seglab.require_weights("sam-vit-huge")
