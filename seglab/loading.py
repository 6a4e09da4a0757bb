"""Loading models from the registry, cached in memory with a bound, and one-call prediction."""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from .cache import LRUCache, one
from .errors import UnsupportedTaskError, WeightsUnavailableError
from .images import ImageInput, load_image
from .models.base import Adapter, download_hint, hf_is_cached, offline_mode, resolve_device
from .prompts import Prompt
from .registry import ADAPTERS, ModelSpec, get_spec
from .results import Result

MAX_LOADED = int(os.environ.get("SEGLAB_MAX_LOADED_MODELS", "3"))

_models = LRUCache(MAX_LOADED, size=one)  # (id, device, dtype, location) -> adapter; a model loads once


def adapter_class(spec: ModelSpec) -> type:
    """The adapter class registered for the spec's family."""
    module, _, name = ADAPTERS[spec.family].partition(":")
    return getattr(importlib.import_module(module), name)


def load_model(model_id: str, device: str | None = None, dtype: str = "float32",
               location: str | Path | None = None) -> Adapter:
    """The adapter for ``model_id``, loaded once and kept (at most ``SEGLAB_MAX_LOADED_MODELS``, LRU).

    ``location`` overrides where the weights come from (a local folder saved with
    ``save_pretrained``, or a torchvision state-dict file); by default the Hub or
    torchvision cache is used, downloading when online.
    """
    spec = get_spec(model_id)
    device = resolve_device(device)
    key = (spec.id, device, dtype, str(location) if location else None)
    return _models.get_or_compute(key, lambda: adapter_class(spec).load(spec, location, device, dtype))


def clear_cache() -> None:
    """Forget every loaded model."""
    _models.clear()


def is_available(model_id: str) -> bool:
    """Whether the model can run without a download: embedded, or its weights are in the local cache."""
    spec = get_spec(model_id)
    if spec.offline:
        return True
    if spec.source == "hf":
        repos = [spec.weights] + [v for k, v in spec.extra.items() if k == "detector"]
        return all(hf_is_cached(r) for r in repos)
    if spec.source == "torchvision":
        from .models.torchvision_models import torchvision_is_cached

        return torchvision_is_cached(spec)
    return False


def require_weights(model_id: str) -> None:
    """Raise :class:`WeightsUnavailableError` with the download command when the Hub is off (``HF_HUB_OFFLINE``)
    and the model's weights are not here; a cheap check made before anything heavy is imported or loaded."""
    if offline_mode() and not is_available(model_id):
        raise WeightsUnavailableError(download_hint(get_spec(model_id)))


def predict(model: str | Adapter, image: ImageInput, prompt: Prompt | None = None, **options: Any) -> Result:
    """Run a model (an id or a loaded adapter) on an image: the one call the CLI, app and benchmark share.

    Promptable models need ``prompt``; the others ignore it and take task options
    such as ``threshold``.
    """
    adapter = load_model(model) if isinstance(model, str) else model
    array = load_image(image)
    if adapter.spec.task == "promptable":
        prompt = (prompt or Prompt()).validated(*array.shape[:2])
        unsupported = [k for k in prompt.kinds if k not in adapter.spec.prompts]
        if unsupported:
            raise UnsupportedTaskError(
                f"{adapter.spec.id} does not take {' or '.join(unsupported)} prompts; it takes "
                f"{', '.join(adapter.spec.prompts)}")
        return adapter.predict(array, prompt, **options)
    if prompt is not None and not prompt.is_empty:
        raise UnsupportedTaskError(f"{adapter.spec.id} is a {adapter.spec.task} model and takes no prompt")
    return adapter.predict(array, **options)


def download(model_id: str) -> list[str]:
    """Fetch a model's weights into the normal Hub / torch cache for later offline use; returns what was fetched."""
    spec = get_spec(model_id)
    if spec.offline:
        return []
    if spec.source == "torchvision":
        from torchvision.models import get_model_weights

        get_model_weights(spec.weights).DEFAULT.get_state_dict(progress=True)
        return [spec.weights]
    from huggingface_hub import snapshot_download

    repos = [spec.weights] + [v for k, v in spec.extra.items() if k == "detector"]
    for repo in repos:
        snapshot_download(repo)
    return repos
