"""Image outputs reach Gradio's cache whole: users shown the same picture at once never read a file another
session's call is rewriting, and every image component of the app writes through that path."""
from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio import processing_utils

import ui
from ui import gradio_cache

READS = 1000


@pytest.fixture
def picture() -> np.ndarray:
    return (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)


def test_the_file_is_where_gradio_puts_it_with_the_same_bytes(picture, tmp_path, monkeypatch):
    monkeypatch.setattr(processing_utils, "save_pil_to_cache", gradio_cache.save_pil_to_cache)
    ours = Path(processing_utils.save_img_array_to_cache(picture, str(tmp_path / "ours"), format="jpeg"))
    monkeypatch.undo()
    theirs = Path(processing_utils.save_img_array_to_cache(picture, str(tmp_path / "gradio"), format="jpeg"))
    assert ours.relative_to(tmp_path / "ours") == theirs.relative_to(tmp_path / "gradio")
    assert ours.read_bytes() == theirs.read_bytes()
    assert sorted(p.name for p in ours.parent.iterdir()) == [ours.name]  # no staging file left behind


def test_users_shown_the_same_picture_at_once_each_read_it_whole(picture, tmp_path, monkeypatch):
    monkeypatch.setattr(processing_utils, "save_pil_to_cache", gradio_cache.save_pil_to_cache)
    cache = str(tmp_path)
    path = Path(processing_utils.save_img_array_to_cache(picture, cache, format="jpeg"))
    whole, stop, partial = path.read_bytes(), threading.Event(), []

    def other_session() -> None:  # shows the same picture again and again
        while not stop.is_set():
            assert processing_utils.save_img_array_to_cache(picture, cache, format="jpeg") == str(path)

    writers = [threading.Thread(target=other_session) for _ in range(2)]
    for w in writers:
        w.start()
    try:
        partial = [i for i in range(READS) if path.read_bytes() != whole]  # Gradio's own: about 80 % of them
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert partial == []


def test_the_app_sends_every_image_component_through_it(picture, tmp_path, monkeypatch):
    ui.build_demo()
    assert processing_utils.save_pil_to_cache is gradio_cache.save_pil_to_cache
    calls = []

    def counted(*args, **kwargs) -> str:
        calls.append(kwargs.get("format"))
        return gradio_cache.save_pil_to_cache(*args, **kwargs)

    monkeypatch.setattr(processing_utils, "save_pil_to_cache", counted)
    mask = np.zeros(picture.shape[:2], bool)
    mask[100:200, 100:300] = True
    outputs = [(gr.Image(type="numpy", format="jpeg"), picture),
               (gr.ImageEditor(type="numpy", format="jpeg"), {"background": picture, "layers": [], "composite": None}),
               (gr.AnnotatedImage(format="png"), (picture, [(mask, "thing")])),
               (gr.Gallery(format="png"), [(picture, "a")])]
    for component, value in outputs:
        before = len(calls)
        component.GRADIO_CACHE = str(tmp_path)
        component.postprocess(value)
        assert len(calls) > before, type(component).__name__
