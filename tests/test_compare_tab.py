"""The Compare tab's handler: pictures side by side with captions, a times table whose failures are notes
under it, the models it starts with (offline: every offline promptable model), and errors that keep the work."""
from __future__ import annotations

import dataclasses
import json

import gradio as gr
import pytest
from app_weights import save_tiny_models

import seglab
from ui import compare, weights
from ui.common import ModelSource

EMBEDDED = "embedded-u2netp-grabcut"
BOX = '{"boxes": [[100, 50, 500, 400]]}'


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> ModelSource:
    return ModelSource(save_tiny_models(tmp_path_factory.mktemp("weights"), ("sam-vit-base",)))


def table_rows(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("|") and not line.startswith("|---")][1:]


def test_models_side_by_side_with_failures_as_notes_under_the_table(source, coco_image_path):
    gallery, table = compare.run(source, str(coco_image_path), [EMBEDDED, "sam-vit-large", "sam-vit-base"], BOX)
    assert [caption.split(" · ")[0] for _, caption in gallery] == [EMBEDDED, "sam-vit-base"]
    assert all(caption.endswith(" ms") for _, caption in gallery)
    assert all(picture.shape[:2] == (427, 640) for picture, _ in gallery)  # every picture at the image's size
    rows = table_rows(table)
    assert [r[0] for r in rows] == [EMBEDDED, "sam-vit-large", "sam-vit-base"]
    assert [r[-1] for r in rows] == ["ok", "not run (note 1)", "ok"]
    assert max(len(cell) for row in rows for cell in row) <= len(EMBEDDED)  # no long message inside the table
    notes = table.split("\n\n", 1)[1]
    assert notes.startswith("1. sam-vit-large") and "python -m seglab download sam-vit-large" in notes


def test_an_error_keeps_the_pictures_and_says_why(source, coco_image_path):
    with pytest.warns(UserWarning, match="at least two models"):  # gr.Warning, outside a server
        gallery, status = compare.run(source, str(coco_image_path), [EMBEDDED], BOX)
    assert gallery == gr.skip() and status.startswith("⚠️ choose at least two models")


def test_offline_it_starts_with_every_offline_promptable_model_here(source, monkeypatch):
    chosen = compare.preselection(source)
    offline = [s.id for s in seglab.list_models("promptable") if s.offline and source.available(s.id)]
    assert chosen[:len(offline)] == offline and len(chosen) >= 2
    assert all(source.available(m) for m in chosen)
    # with baselines registered as offline promptable models, they all start selected, and nothing else
    spec = seglab.get_spec(EMBEDDED)
    baselines = [dataclasses.replace(spec, id=name) for name in ("box-as-mask", "grabcut-only")]
    models = seglab.list_models("promptable") + baselines
    monkeypatch.setattr(seglab, "list_models", lambda task=None: [m for m in models if task in (None, m.task)])
    monkeypatch.setattr(ModelSource, "available", lambda self, model_id: model_id in
                        {EMBEDDED, "sam-vit-base", *(b.id for b in baselines)})
    assert compare.preselection(source) == [EMBEDDED, "box-as-mask", "grabcut-only"]


def test_online_it_starts_with_a_downloaded_model_beside_the_offline_default(source, monkeypatch):
    monkeypatch.setattr(compare, "is_offline_mode", lambda: False)
    assert compare.preselection(source) == ["sam-vit-base", EMBEDDED]


def test_a_click_on_the_image_adds_a_point_to_the_prompt_and_keeps_its_boxes(source, coco_image_path):
    def click(prompt: str, kind: str, x: float, y: float) -> str:
        return compare.add_click(prompt, kind, gr.SelectData(None, {"index": [x, y], "value": None}))

    first = click(BOX, "positive point", 300, 200)
    assert json.loads(first) == {"points": [[300.0, 200.0]], "labels": [1], "boxes": [[100.0, 50.0, 500.0, 400.0]]}
    second = json.loads(click(first, "negative point", 40, 60))
    assert second["points"] == [[300.0, 200.0], [40.0, 60.0]] and second["labels"] == [1, 0]
    gallery, _ = compare.run(source, str(coco_image_path), [EMBEDDED, "sam-vit-base"], json.dumps(second))
    assert len(gallery) == 2  # both models ran on the clicked prompt
    with pytest.raises(gr.Error, match="not valid JSON"):
        click("{points", "positive point", 1, 1)  # a broken prompt is said, not overwritten


def test_compare_is_disabled_saying_why_while_no_chosen_model_can_run_here(source, monkeypatch):
    button, line = compare.compare_state(source, ["sam-vit-large", "sam-vit-huge"])
    assert button == gr.update(interactive=False, value=f"Compare {compare.BLOCKED}")
    assert line.startswith("⚠️ sam-vit-large, sam-vit-huge are not downloaded and the Hub is offline")
    assert line.endswith("run `python -m seglab download sam-vit-large`.")
    for runnable in (["sam-vit-large", "sam-vit-base"], [EMBEDDED], []):  # one that runs: the run goes on
        assert compare.compare_state(source, runnable) == (gr.update(interactive=True, value="Compare"), "")
    monkeypatch.setattr(weights, "is_offline_mode", lambda: False)  # online, the first run downloads them
    assert compare.compare_state(source, ["sam-vit-large", "sam-vit-huge"])[0]["interactive"]


def test_the_compare_button_follows_the_chosen_models():
    from ui import build_demo

    demo = build_demo()
    button = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "compare-run")
    (dep,) = [d for d in demo.fns.values() if button in d.outputs]
    (target, event), = dep.targets
    assert demo.blocks[target].elem_id == "compare-models" and event == "change"
    assert not dep.fn(["sam-vit-large", "sam-vit-huge"])[0]["interactive"]
    assert dep.fn([EMBEDDED, "sam-vit-huge"])[0]["interactive"]
