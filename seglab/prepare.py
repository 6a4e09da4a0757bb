"""Per-image work ahead of the first prompt, as the SAM demo embeds an image when it arrives."""
from __future__ import annotations

from typing import Any

from .images import ImageInput, load_image
from .loading import load_model


def prepare(model: str | Any, image: ImageInput) -> bool:
    """Compute ``model``'s per-image work on ``image`` now (the image encoder's embedding, or the adapter's
    own ``prepare``) and keep it in the model's bounded cache, so the first prompt costs only the decoder.
    Returns False for models with nothing to do ahead of a prompt."""
    adapter = load_model(model) if isinstance(model, str) else model
    for name in ("prepare", "embed"):
        step = getattr(adapter, name, None)
        if callable(step):
            step(load_image(image))
            return True
    return False
