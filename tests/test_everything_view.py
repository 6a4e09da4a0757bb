"""Segment everything's many-mask view: the mask list under the canvas (sorted by area or score), a picked row
highlighted on the canvas and downloaded alone, Show all back to every mask; on a real COCO image."""
from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest

from seglab.results import RleMasks
from ui.common import ModelSource
from ui.segment import MAX_PICKS, SegmentHandlers, SegmentSession, mask_choices

N = MAX_PICKS + 8


@pytest.fixture(scope="module")
def handlers(tmp_path_factory) -> SegmentHandlers:
    return SegmentHandlers(ModelSource(tmp_path_factory.mktemp("weights")))


@pytest.fixture(scope="module")
def many(coco_image_path) -> SegmentSession:
    """The COCO image with N boxes as masks: mask i is (i + 1) * 8 px wide, scores rise and fall with i."""
    session = SegmentSession.open(str(coco_image_path))
    h, w = session.shape
    masks = np.zeros((N, h, w), bool)
    for i in range(N):
        masks[i, 10 + i * 5:60 + i * 5, 20:20 + (i + 1) * 8] = True
    scores = 0.5 + 0.4 * np.sin(np.arange(N))
    return session.with_result(RleMasks.encode(masks, scores))


def pick(handlers, session, row):
    table = handlers.mask_list(session, "area", "")[1]
    return handlers.pick_row(session, gr.SelectData(None, {"index": [row, 0], "value": None,
                                                           "row_value": table.iloc[row].tolist()}))


def downloaded(handlers, session, picked) -> int:
    """How many masks "Prepare downloads" writes into the JSON."""
    written = handlers.downloads(session, picked)
    return len(json.loads(next(open(f).read() for f in written if f.endswith(".json")))["masks"])


def test_the_list_has_a_row_per_mask_sorted_by_area_or_score(handlers, many):
    shown, table, listed = handlers.mask_list(many, "area", "")
    result = many.result
    assert shown["visible"] and listed == many.result_key and len(table) == N
    assert list(table["mask"]) == list(range(N))[::-1]  # widest first
    assert list(table["area (px)"]) == sorted(result.areas, reverse=True)
    assert table["box (x0, y0, x1, y1)"][0] == ", ".join(f"{v:.0f}" for v in result.boxes[N - 1])
    by_score = handlers.resort(many, "score", listed)[1]
    assert list(by_score["mask"]) == list(np.argsort(-result.scores, kind="stable"))
    assert handlers.mask_list(many, "score", listed) == (gr.skip(), gr.skip(), listed)  # already listed


def test_the_list_is_hidden_for_a_few_masks(handlers, many):
    few = many.with_result(many.result.select(list(range(MAX_PICKS))))
    assert handlers.mask_list(few, "area", "")[:2] == (gr.update(visible=False), None)
    assert handlers.mask_list(many.cleared(), "area", "x")[:2] == (gr.update(visible=False), None)


def test_a_picked_row_is_highlighted_and_downloaded_alone_and_show_all_returns(handlers, many):
    everything = handlers._outputs(many, show_all=True)
    assert everything[3]["value"] == "all" and not everything[3]["visible"]
    assert [v for _, v in mask_choices(many.result, True)["choices"]] == ["all", *map(str, range(N))]
    view, files, picked = pick(handlers, many, 0)
    assert picked == str(N - 1) and files is None
    inside = many.result.mask(N - 1) & ~many.result.mask(N - 2)  # the view is the image's size (640 x 427)
    assert np.abs(view.astype(int) - everything[1].astype(int))[inside].mean() > 30  # strongly filled now
    assert downloaded(handlers, many, picked) == 1
    back, files, picked = handlers.show_all(many)
    assert picked == "all" and files is None and np.array_equal(back, everything[1])
    assert downloaded(handlers, many, picked) == N
