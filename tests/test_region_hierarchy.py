"""The superpixel region tree behind the offline model's clicks and proposals, on a drawn image."""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from seglab.metrics.interactive import mask_iou
from seglab.models.region_hierarchy import RegionHierarchy, build_hierarchy, proposal_scores, superpixels


@pytest.fixture(scope="module")
def drawn() -> tuple[RegionHierarchy, np.ndarray, np.ndarray]:
    """A tree of a grey image with a red square and a blue disc (saliency high on both), and their masks."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(128, 6, (120, 160, 3)), 0, 255).astype(np.uint8)
    square = np.zeros((120, 160), bool)
    square[20:60, 20:60] = True
    ys, xs = np.mgrid[0:120, 0:160]
    disc = (ys - 80) ** 2 + (xs - 115) ** 2 < 22 ** 2
    image[square] = (200, 30, 30)
    image[disc] = (30, 30, 200)
    saliency = (square | disc).astype(np.float32)
    return build_hierarchy(image, saliency, superpixels(image, 100)), square, disc


def test_every_drawn_object_is_a_node_of_the_tree(drawn) -> None:
    tree, square, disc = drawn
    for obj in (square, disc):
        assert max(mask_iou(tree.mask(k), obj) for k in range(len(tree.parent))) > 0.95


def test_a_click_chain_runs_from_its_superpixel_to_the_root(drawn) -> None:
    tree, _, _ = drawn
    chain = tree.chain(40, 40)
    assert tree.mask(chain[0])[40, 40] and tree.parent[chain[-1]] == -1
    assert all(tree.parent[a] == b for a, b in pairwise(chain))
    assert all(tree.sizes[a] < tree.sizes[b] for a, b in pairwise(chain))


def test_levels_count_down_from_each_root(drawn) -> None:
    tree, _, _ = drawn
    levels = tree.levels
    roots = tree.parent < 0
    assert (levels[roots] == 1).all()
    children = np.flatnonzero(~roots)
    assert (levels[children] == levels[tree.parent[children]] + 1).all()


def test_proposals_rank_coarse_levels_first_then_objectness(drawn) -> None:
    tree, _, _ = drawn
    scores = proposal_scores(tree)
    assert ((scores > 0) & (scores <= 1)).all()
    levels, objectness = tree.levels, tree.scores
    order = np.argsort(-scores, kind="stable")
    ranked = list(zip(levels[order], -objectness[order]))
    assert ranked == sorted(ranked)  # by level, then by objectness (higher first)
