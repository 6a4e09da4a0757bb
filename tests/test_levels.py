"""seglab.levels: each prompt's three multimask answers named whole / part / subpart by area."""
import numpy as np
import pytest

import seglab
from seglab.levels import LEVELS, by_level, pick_level


def nested(sizes: list[int], side: int = 20) -> np.ndarray:
    masks = np.zeros((len(sizes), side, side), bool)
    for i, s in enumerate(sizes):
        masks[i, :s, :s] = True
    return masks


def test_levels_follow_area_within_each_prompt_whatever_the_scores():
    # two boxes, three answers each, in decoder order: box 0's part, whole, subpart; box 1's subpart, part, whole
    masks = seglab.Masks(np.concatenate([nested([10, 18, 4]), nested([3, 9, 15])]), [0.9, 0.5, 0.7, 0.2, 0.8, 0.4])
    ordered = by_level(masks, 3)
    assert ordered.masks.sum((1, 2)).tolist() == [324, 100, 16, 225, 81, 9]
    assert ordered.scores.tolist() == pytest.approx([0.5, 0.9, 0.7, 0.4, 0.8, 0.2])  # each mask keeps its score
    whole, part, subpart = (pick_level(masks, level) for level in LEVELS)
    assert whole.masks.sum((1, 2)).tolist() == [324, 225] and whole.scores.tolist() == pytest.approx([0.5, 0.4])
    assert part.masks.sum((1, 2)).tolist() == [100, 81] and subpart.masks.sum((1, 2)).tolist() == [16, 9]


def test_bad_levels_and_answers_are_clear_errors():
    masks = seglab.Masks(nested([10, 18, 4]), [0.9, 0.5, 0.7])
    with pytest.raises(seglab.InvalidPromptError, match="unknown level 'object'; choose one of whole, part, subpart"):
        pick_level(masks, "object")
    with pytest.raises(seglab.InvalidPromptError, match="three masks of a multimask answer, not 1"):
        pick_level(masks.select([0]), "whole", per_prompt=1)
    with pytest.raises(ValueError, match="do not split into groups of 2"):
        by_level(masks, 2)
