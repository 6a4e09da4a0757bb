"""SAM's granularity: an ambiguous click answered with three nested masks, "whole, part and subpart".

The SAM paper (section 3) lets the decoder answer one prompt with three masks because a point may mean a whole
object, a part of it or a subpart; the model does not order them by level (its outputs come in decoder order,
scored by predicted IoU), so the levels are named here by area: the largest mask is the whole, the smallest the
subpart. ``seglab.predict(model, image, prompt, level="part")`` returns one mask per prompt at that level.
"""
from __future__ import annotations

import numpy as np

from .errors import InvalidPromptError
from .results import Masks

LEVELS = ("whole", "part", "subpart")


def by_level(masks: Masks, per_prompt: int) -> Masks:
    """Each prompt's ``per_prompt`` multimask answers (consecutive, prompt order) largest area first, so that
    within a prompt index 0 is the whole, 1 the part and 2 the subpart."""
    if per_prompt < 1 or len(masks) % per_prompt:
        raise ValueError(f"{len(masks)} masks do not split into groups of {per_prompt}")
    areas = masks.masks.reshape(len(masks), -1).sum(1).reshape(-1, per_prompt)
    order = np.argsort(-areas, axis=1, kind="stable") + np.arange(0, len(masks), per_prompt)[:, None]
    return masks.select(order.reshape(-1))


def pick_level(masks: Masks, level: str, per_prompt: int = len(LEVELS)) -> Masks:
    """One mask per prompt: the ``level`` ('whole', 'part' or 'subpart') of each prompt's multimask answer."""
    if level not in LEVELS:
        raise InvalidPromptError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    if per_prompt != len(LEVELS):
        raise InvalidPromptError(f"levels need the three masks of a multimask answer, not {per_prompt}")
    return by_level(masks, per_prompt).select(np.arange(LEVELS.index(level), len(masks), per_prompt))
