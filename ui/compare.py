"""The Compare tab: one image (and prompt) through several models, side by side, each with its time."""
from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import numpy as np

import seglab
from seglab.render import colorize_depth, draw_prompt, overlay

from .common import CONCURRENCY, ModelSource, gpu, image_input, parse_prompt, read_image, user_errors

log = logging.getLogger("seglab.app")
MAX_MODELS = 6


def picture(result: Any, image: np.ndarray, prompt: seglab.Prompt | None) -> np.ndarray:
    """What a result looks like: masks / maps over the image (with the prompt), depth as colours."""
    if isinstance(result, seglab.DepthMap):
        return colorize_depth(result)
    out = overlay(result, image)
    return draw_prompt(out, prompt) if prompt is not None else out


@user_errors
@gpu
def run(source: ModelSource, image: Any, model_ids: list[str] | None, prompt: str | None = None,
        text: str | None = None) -> tuple[list[tuple[np.ndarray, str]], str]:
    """The ``/compare`` endpoint: (gallery of (picture, caption), markdown table of times).

    Promptable models get the prompt, the others the image alone. A model that cannot run is
    listed with its reason while the others go on.
    """
    array = read_image(image)
    model_ids = [m for m in (model_ids or []) if m]
    if len(model_ids) < 2:
        raise seglab.UnknownModelError("choose at least two models to compare")
    if len(model_ids) > MAX_MODELS:
        raise seglab.UnknownModelError(f"choose at most {MAX_MODELS} models at once")
    specs = [seglab.get_spec(m) for m in model_ids]
    full = parse_prompt(prompt, text) if any(s.task == "promptable" for s in specs) else None
    gallery, rows = [], ["| model | task | load | predict | result |", "|---|---|---|---|---|"]
    for spec in specs:
        given = full.validated(*array.shape[:2]) if spec.task == "promptable" else None
        try:
            result, load_s, predict_s = source.run(spec.id, array, given)
        except seglab.SeglabError as e:
            rows.append(f"| {spec.id} | {spec.task} | | | {e} |")
            continue
        except Exception:
            log.exception("compare: %s failed", spec.id)
            rows.append(f"| {spec.id} | {spec.task} | | | failed (logged) |")
            continue
        gallery.append((picture(result, array, given), f"{spec.id} · {predict_s * 1000:.0f} ms"))
        rows.append(f"| {spec.id} | {spec.task} | {load_s:.2f} s | {predict_s * 1000:.0f} ms | ok |")
    if not gallery:
        raise seglab.WeightsUnavailableError("none of the chosen models could run:\n\n" + "\n".join(rows[2:]))
    return gallery, "\n".join(rows)


def build(source: ModelSource, examples: list[str]) -> None:
    promptable = source.preselect("promptable")
    with gr.Row():
        with gr.Column(scale=2, min_width=280):
            image = image_input(label="Image", type="filepath", sources=["upload", "clipboard"], height=300)
            if examples:
                gr.Examples(examples, inputs=image)
            models = gr.Dropdown(source.choices(seglab.TASKS), value=[promptable], multiselect=True,
                                 max_choices=MAX_MODELS, label="Models (two or more, any task)")
            prompt = gr.Textbox(label="Prompt for promptable models (JSON, image pixels)", lines=2,
                                placeholder='{"points": [[320, 200]], "labels": [1]} or {"boxes": [[10, 20, 300, 40]]}')
            text = gr.Textbox(label="Text prompt (text-capable models)")
            button = gr.Button("Compare", variant="primary", elem_id="compare-run")
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Side by side", columns=2, height=520, format="png")
            table = gr.Markdown(label="Times per model")

    def compare(image: Any, model_ids: list[str], prompt: str, text: str) -> tuple:
        return run(source, image, model_ids, prompt, text)

    button.click(compare, [image, models, prompt, text], [gallery, table], api_name="compare",
                 concurrency_id="compare", concurrency_limit=CONCURRENCY)
