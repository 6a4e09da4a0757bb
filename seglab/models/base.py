"""What every adapter is, and the shared loading helpers (Hub, torchvision, device, dtype).

An adapter is a thin class: ``Adapter.load(spec, location, device, dtype)`` builds it,
``adapter.predict(image, ...)`` returns one of the typed results of :mod:`seglab.results`.
Promptable adapters also take a :class:`~seglab.prompts.Prompt`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import WeightsUnavailableError
from ..registry import ModelSpec, list_models


@runtime_checkable
class Adapter(Protocol):
    spec: ModelSpec

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None, device: str, dtype: str) -> Adapter: ...

    def predict(self, image: np.ndarray, **options: Any) -> Any: ...


def resolve_device(device: str | None = None) -> str:
    """'cuda' when available, then 'mps', else 'cpu'; an explicit choice is checked."""
    import torch

    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WeightsUnavailableError("device 'cuda' was asked for but no CUDA GPU is available")
    return device


def torch_dtype(dtype: str | None, device: str):
    """torch dtype from a name; reduced precision only where the device supports it."""
    import torch

    name = (dtype or "float32").replace("torch.", "")
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if name not in table:
        raise ValueError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16")
    if device == "cpu" and table[name] == torch.float16:
        return torch.float32  # half matmuls are slow or missing on CPU
    return table[name]


def offline_mode() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def download_hint(spec: ModelSpec) -> str:
    """The offline message: which weights are missing, the download command, and an offline alternative."""
    offline = [s.id for s in list_models(spec.task) if s.offline]
    alternative = f", or choose the offline model '{offline[0]}'" if offline else ""
    return (f"{spec.id}: weights for {spec.weights!r} are not in the local cache and cannot be downloaded "
            f"now. On a machine with internet run `python -m seglab download {spec.id}`{alternative}.")


def hf_load(cls: Any, spec: ModelSpec, location: str | Path | None, repo: str | None = None, **kw: Any) -> Any:
    """``cls.from_pretrained`` from ``location`` (a local folder) or the Hub repo, with a clear offline error."""
    target = str(location) if location is not None else (repo or spec.weights)
    try:
        return cls.from_pretrained(target, **kw)
    except OSError as e:  # transformers raises OSError (EnvironmentError) for missing files / no network
        if location is not None:
            raise WeightsUnavailableError(f"{spec.id}: cannot load from {location}: {e}") from None
        raise WeightsUnavailableError(download_hint(spec)) from None


def hf_is_cached(repo: str) -> bool:
    """True when the repo's config is in the local Hub cache (no network is touched)."""
    from huggingface_hub import try_to_load_from_cache

    for name in ("config.json", "preprocessor_config.json"):
        hit = try_to_load_from_cache(repo, name)
        if isinstance(hit, str):
            return True
    return False


def move(model: Any, device: str, dtype: Any) -> Any:
    """Model on device in eval mode, in ``dtype`` where it is a float type."""
    return model.to(device=device, dtype=dtype).eval()


class HFAdapter:
    """Base of the transformers adapters: a model and its processor on a device, in a dtype.

    A subclass names its classes (attributes of ``transformers``) in ``MODEL`` and ``PROCESSOR``,
    or overrides :meth:`classes` where the spec's family decides.
    """

    MODEL = ""
    PROCESSOR = ""

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: str, dtype: Any) -> None:
        self.spec, self.model, self.processor, self.device, self.dtype = spec, model, processor, device, dtype

    @classmethod
    def classes(cls, spec: ModelSpec) -> tuple[str, str]:
        """(model class, processor class) names for ``spec``."""
        return cls.MODEL, cls.PROCESSOR

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> HFAdapter:
        import transformers

        model_name, processor_name = cls.classes(spec)
        torch_type = torch_dtype(dtype, device)
        processor = hf_load(getattr(transformers, processor_name), spec, location)
        model = hf_load(getattr(transformers, model_name), spec, location, dtype=torch_type)
        return cls(spec, move(model, device, torch_type), processor, device, torch_type)
