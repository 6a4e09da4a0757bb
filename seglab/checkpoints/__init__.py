"""Official checkpoints (``.pth`` / ``.pt`` files of the authors' code) -> the transformers models seglab runs.

One module per family holds its key-mapping table and reads the architecture from the
checkpoint's own tensor shapes; it is imported lazily by name (:data:`FAMILY_MODULES`), so a
family's module can be added without touching this file's callers. Each family module provides

- ``convert(state_dict, family) -> state_dict``: official keys renamed to the transformers layout;
- ``empty_model(state_dict, family, **config) -> model``: the transformers model whose config the shapes imply
  (``config``: what they cannot tell, such as a Depth Anything checkpoint's metric head);
- ``processor(family) -> processor``: the matching processor, built locally (no Hub), where the checkpoint
  holds all the model needs (Grounding DINO's tokenizer is not in its checkpoint: :func:`official_model` alone).

    model, processor = load_official("sam_vit_b_01ec64.pth", "sam")
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import WeightsUnavailableError

FAMILY_MODULES: dict[str, str] = {"sam": "sam", "sam-hq": "sam", "sam2": "sam2", "depth-anything": "depth_anything",
                                  "grounding-dino": "grounding_dino", "sam3": "sam3"}
SUFFIXES = (".pth", ".pt")


def is_official_checkpoint(location: str | Path | None) -> bool:
    """Whether ``location`` names a single official checkpoint file (rather than a ``save_pretrained`` folder)."""
    return location is not None and Path(location).suffix.lower() in SUFFIXES


def family_module(family: str) -> Any:
    """The key-mapping module of ``family``."""
    if family not in FAMILY_MODULES:
        raise WeightsUnavailableError(f"official checkpoints of the {family!r} family are not supported; "
                                      f"supported: {', '.join(FAMILY_MODULES)}")
    return importlib.import_module(f"{__name__}.{FAMILY_MODULES[family]}")


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """The tensors of an official checkpoint (a bare state dict, or one under ``"model"`` as SAM 2 saves it)."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsUnavailableError(f"{path}: not a readable PyTorch checkpoint ({first})") from None
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsUnavailableError(f"{path}: does not hold a state dict of tensors")
    return data


def convert_official(path: str | Path, family: str) -> dict[str, Any]:
    """The official checkpoint at ``path`` as a state dict in the transformers layout of ``family``."""
    return family_module(family).convert(read_state_dict(path), family)


def check_state_dict(model: Any, state_dict: dict[str, Any], path: str | Path) -> None:
    """Raise one :class:`WeightsUnavailableError` line naming ``path`` and the first unknown, missing or
    mis-shaped key of ``state_dict`` against ``model``."""
    expected = model.state_dict()
    for key, value in state_dict.items():
        if key not in expected:
            raise WeightsUnavailableError(f"{path}: unexpected key {key!r} for {type(model).__name__}")
        if tuple(value.shape) != tuple(expected[key].shape):
            raise WeightsUnavailableError(f"{path}: key {key!r} has shape {tuple(value.shape)}, "
                                          f"{type(model).__name__} expects {tuple(expected[key].shape)}")
    missing = [k for k in expected if k not in state_dict]
    if missing:
        raise WeightsUnavailableError(f"{path}: key {missing[0]!r} is missing ({len(missing)} missing in all)")


def load_official(path: str | Path, family: str, **config: Any) -> tuple[Any, Any]:
    """(transformers model in eval mode, processor) from the official checkpoint at ``path``, loaded strictly;
    ``config`` goes to the family's ``empty_model`` (settings the tensors cannot tell)."""
    return official_model(path, family, **config), family_module(family).processor(family)


def official_model(path: str | Path, family: str, **config: Any) -> Any:
    """The transformers model in eval mode from the official checkpoint at ``path``, loaded strictly."""
    module = family_module(family)
    official = read_state_dict(path)
    try:
        model = module.empty_model(official, family, **config)
        converted = module.convert(official, family)
    except KeyError as e:  # a tensor the architecture is read from
        raise WeightsUnavailableError(f"{path}: key {e.args[0]!r} is missing (not a {family} checkpoint?)") from None
    except (IndexError, ValueError) as e:
        raise WeightsUnavailableError(f"{path}: not a {family} checkpoint ({type(e).__name__}: {e})") from None
    check_state_dict(model, converted, path)
    model.load_state_dict(converted, strict=True, assign=True)
    unset = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if unset:
        raise WeightsUnavailableError(f"{path}: {unset[0]!r} of {type(model).__name__} is not in the checkpoint")
    return model.eval()
