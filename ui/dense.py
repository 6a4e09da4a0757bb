"""The Semantic, Instance, Panoptic and Parts tabs: one model from the registry over the whole image,
shown as an annotated overlay with a legend; a score threshold where it applies.

The tabs differ only in their task name, so one builder makes each.
"""
from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

import seglab
from seglab.render import legend

from .common import (CONCURRENCY, ModelSource, downloads, gpu, image_input, protocol_line, read_image, require_task,
                     timing, user_errors, warn_if_missing)

TASKS = ("semantic", "instance", "panoptic", "part")
ENDPOINTS = {"part": "parts"}  # the tab's endpoint (and name) where it is not the task's
THRESHOLD = {"instance": 0.5, "panoptic": 0.8}  # tasks with a score threshold, and its starting value


def annotations(result: seglab.Masks | seglab.SemanticMap | seglab.PanopticMap) -> tuple[list, dict[str, str]]:
    """(mask, label) pairs for gr.AnnotatedImage and their colours, matching seglab.render's legend."""
    colours = legend(result)
    if isinstance(result, seglab.Masks):
        masks = list(result.masks)
    elif isinstance(result, seglab.SemanticMap):
        masks = [result.labels == cid for cid, _, _ in result.present()]
    else:
        masks = [result.segment_ids == s.id for s in result.segments]
    pairs, colour_map, seen = [], {}, {}
    for mask, (name, colour) in zip(masks, colours):
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name} #{seen[name]}"  # one legend entry per segment
        pairs.append((mask.astype(np.float32), label))
        colour_map[label] = colour
    return pairs, colour_map


def endpoint(task: str) -> str:
    """The tab's endpoint name: ``/semantic``, ..., ``/parts``."""
    return ENDPOINTS.get(task, task)


def summary(result: Any) -> str:
    if isinstance(result, seglab.Masks):
        return f"{len(result)} instance{'s' * (len(result) != 1)}"
    if isinstance(result, seglab.SemanticMap):
        return f"{len(result.present())} classes present"
    return f"{len(result.segments)} segments"


@user_errors(keep=3)
@gpu
def run(source: ModelSource, task: str, image: Any, model_id: str, threshold: float | None = None) -> tuple:
    """One model over the image: (annotated image, downloads, status); on an error the last result stays."""
    array = read_image(image)
    if model_id:
        require_task(source, model_id, task)
    options = {"threshold": float(threshold)} if task in THRESHOLD and threshold is not None else {}
    result, load_s, predict_s = source.run(model_id, array, **options)
    if isinstance(result, seglab.Masks) and threshold is not None:
        result = result.select(result.scores >= threshold)
    pairs, colours = annotations(result)
    return (gr.AnnotatedImage((array, pairs), color_map=colours), downloads(result, array, task),
            timing(model_id, load_s, predict_s, f"{summary(result)} · {protocol_line(model_id)}"))


def build(source: ModelSource, task: str, examples: list[str]) -> tuple[gr.Dropdown, gr.Button]:
    """One dense-prediction tab (inside a gr.Tab context); its endpoint is ``/`` + :func:`endpoint`. Returns its
    model list and Run button (for ``ui.weights.Needs`` to enable)."""
    with gr.Row():
        with gr.Column(scale=2, min_width=280):
            image = image_input(label="Image", sources=["upload", "clipboard"], height=300)
            if examples:
                gr.Examples(examples, inputs=image)
            model = gr.Dropdown(source.choices(task), value=source.preselect(task), label="Model",
                                allow_custom_value=True)
            inputs = [image, model]
            if task in THRESHOLD:
                inputs.append(gr.Slider(0.0, 1.0, value=THRESHOLD[task], step=0.05, label="Score threshold"))
            button = gr.Button("Run", variant="primary", elem_id=f"{task}-run")
        with gr.Column(scale=3):
            shown = gr.AnnotatedImage(label=f"{endpoint(task).capitalize()} result (hover the legend)", format="png",
                                     elem_id=f"{task}-result")
            status = gr.Markdown(label="Status")
            files = gr.File(label="Downloads", file_count="multiple")

    def handler(image: Any, model_id: str, threshold: float | None = None) -> tuple:
        return run(source, task, image, model_id, threshold)

    handler.__name__ = endpoint(task)
    button.click(handler, inputs, [shown, files, status], api_name=endpoint(task), concurrency_id=task,
                 concurrency_limit=CONCURRENCY, show_progress_on=[shown])  # one loader: each costs the browser CPU
    model.change(lambda m: warn_if_missing(source, m), model, None, api_name=f"{endpoint(task)}_model",
                 api_visibility="private")
    return model, button
