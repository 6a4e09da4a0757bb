"""The Compare tab: one image (and prompt) through several models, side by side at the same size, each with
its time; models that cannot run are listed with their reason under the table. A click on the image adds a
point to the prompt, as on the Segment tab."""
from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import numpy as np
from huggingface_hub import is_offline_mode

import seglab
from seglab.render import colorize_depth, draw_prompt, overlay

from .common import CONCURRENCY, ModelSource, gpu, image_input, parse_prompt, prompt_json, read_image, user_errors
from .weights import cannot_run

log = logging.getLogger("seglab.app")
MAX_MODELS = 6
CLICKS = ("positive point", "negative point")
LABEL = "Compare"
BLOCKED = "(none of the chosen models can run here: see below)"


def picture(result: Any, image: np.ndarray, prompt: seglab.Prompt | None) -> np.ndarray:
    """What a result looks like: masks / maps over the image (with the prompt), depth as colours."""
    if isinstance(result, seglab.DepthMap):
        return colorize_depth(result)
    out = overlay(result, image)
    return draw_prompt(out, prompt) if prompt is not None else out


def preselection(source: ModelSource) -> list[str]:
    """The models Compare starts with. Offline (or with nothing downloaded): every offline promptable model
    that runs here, the embedded default and its baselines (box-as-mask, GrabCut, saliency), topped up with a
    downloaded model when that makes fewer than two; online with downloaded weights, the first downloaded
    promptable model beside the offline default."""
    here = [s for s in seglab.list_models("promptable") if source.available(s.id)]
    offline = [s.id for s in here if s.offline]
    downloaded = [s.id for s in here if not s.offline]
    if downloaded and not is_offline_mode():
        chosen = [downloaded[0], *offline[:1]]
    else:
        chosen = offline + downloaded[:max(0, 2 - len(offline))]
    return (chosen or [seglab.default_model("promptable").id])[:MAX_MODELS]


def times_table(rows: list[tuple[str, str, str, str, str]], failures: list[str]) -> str:
    """The markdown table of (model, task, load, predict, result) rows, each failure's reason numbered under it,
    so a long message never squeezes the columns."""
    lines = ["| model | task | load | predict | result |", "|---|---|---:|---:|---|", *("| " + " | ".join(r) + " |"
                                                                                   for r in rows)]
    notes = [f"{i}. {reason}" for i, reason in enumerate(failures, start=1)]
    return "\n".join(lines + ([""] + notes if notes else []))


@user_errors(keep=2)
@gpu
def run(source: ModelSource, image: Any, model_ids: list[str] | None, prompt: str | None = None,
        text: str | None = None) -> tuple[list[tuple[np.ndarray, str]], str]:
    """The ``/compare`` endpoint: (gallery of (picture, caption), markdown table of times).

    Promptable models get the prompt, the others the image alone. A model that cannot run gets a row that
    points to its reason, listed under the table, while the others go on.
    """
    array = read_image(image)
    model_ids = [m for m in (model_ids or []) if m]
    if len(model_ids) < 2:
        raise seglab.UnknownModelError("choose at least two models to compare")
    if len(model_ids) > MAX_MODELS:
        raise seglab.UnknownModelError(f"choose at most {MAX_MODELS} models at once")
    specs = [seglab.get_spec(m) for m in model_ids]
    full = parse_prompt(prompt, text) if any(s.task == "promptable" for s in specs) else None
    gallery, rows, failures = [], [], []
    for spec in specs:
        given = full.validated(*array.shape[:2]) if spec.task == "promptable" else None
        try:
            result, load_s, predict_s = source.run(spec.id, array, given)
        except seglab.SeglabError as e:
            failures.append(str(e) if str(e).startswith(spec.id) else f"{spec.id}: {e}")
        except Exception:
            log.exception("compare: %s failed", spec.id)
            failures.append(f"{spec.id}: failed inside the model (the details were logged)")
        else:
            gallery.append((picture(result, array, given), f"{spec.id} · {predict_s * 1000:.0f} ms"))
            rows.append((spec.id, spec.task, f"{load_s:.2f} s", f"{predict_s * 1000:.0f} ms", "ok"))
            continue
        rows.append((spec.id, spec.task, "", "", f"not run (note {len(failures)})"))
    if not gallery:
        raise seglab.WeightsUnavailableError("none of the chosen models could run: " + "; ".join(failures))
    return gallery, times_table(rows, failures)


def compare_state(source: ModelSource, model_ids: list[str] | None) -> tuple[dict[str, Any], str]:
    """(the Compare button, the line under it): not interactive, the line saying why and what to do, when every
    chosen model cannot run here (not downloaded, the Hub offline); a run goes on past the others' failures."""
    chosen = [m for m in model_ids or [] if m]
    blocked = [m for m in chosen if cannot_run(source, m)]
    if not chosen or len(blocked) < len(chosen):
        return gr.update(interactive=True, value=LABEL), ""
    return (gr.update(interactive=False, value=f"{LABEL} {BLOCKED}"),
            f"⚠️ {', '.join(blocked)} {'is' if len(blocked) == 1 else 'are'} not downloaded and the Hub is offline: "
            f"add a model that runs here (one not marked *(download needed)*), or on a machine with internet run "
            f"`python -m seglab download {blocked[0]}`.")


@user_errors
def add_click(prompt: str | None, kind: str, evt: gr.SelectData) -> str:
    """The prompt's JSON with the clicked pixel added as a positive or negative point (its boxes kept)."""
    given = parse_prompt(prompt)
    x, y = (float(v) for v in evt.index)
    points = [] if given.points is None else [tuple(p) for p in given.points]
    labels = [] if given.point_labels is None else [int(v) for v in given.point_labels]
    boxes = None if given.boxes is None else given.boxes.tolist()
    return prompt_json(seglab.Prompt.build(points=[*points, (x, y)], labels=[*labels, int(kind == CLICKS[0])],
                                           boxes=boxes))


def build(source: ModelSource, examples: list[str]) -> None:
    with gr.Row():
        with gr.Column(scale=2, min_width=280):
            image = image_input(label="Image", type="filepath", sources=["upload", "clipboard"], height=300,
                                elem_id="compare-image")
            if examples:
                gr.Examples(examples, inputs=image)
            models = gr.Dropdown(source.choices(seglab.TASKS), value=preselection(source), multiselect=True,
                                 max_choices=MAX_MODELS, label="Models (two or more, any task)",
                                 elem_id="compare-models")
            prompt = gr.Textbox(label="Prompt for promptable models (JSON, image pixels)", lines=2,
                                elem_id="compare-prompt",
                                placeholder='{"points": [[320, 200]], "labels": [1]} or {"boxes": [[10, 20, 300, 40]]}')
            click = gr.Radio(list(CLICKS), value=CLICKS[0], label="A click on the image adds a",
                             elem_id="compare-click")
            text = gr.Textbox(label="Text prompt (text-capable models)")
            button = gr.Button(LABEL, variant="primary", elem_id="compare-run")
            needs = gr.Markdown(elem_id="compare-needs")
        with gr.Column(scale=3):
            # two columns even for one picture, each shown whole, every result at the same size; height "100%"
            # (not "auto", which caps it at 55% of the window) lets the gallery grow with its rows, no scroll box
            gallery = gr.Gallery(label="Side by side", columns=2, fit_columns=False, height="100%",
                                 object_fit="contain", format="png", preview=False, elem_id="compare-gallery")
            table = gr.Markdown(label="Times per model", elem_id="compare-times")

    def compare(image: Any, model_ids: list[str], prompt: str, text: str) -> tuple:
        return run(source, image, model_ids, prompt, text)

    image.select(add_click, [prompt, click], prompt, api_name="compare_click", api_visibility="private")
    models.change(lambda ids: compare_state(source, ids), models, [button, needs], api_visibility="private",
                  queue=False)
    button.click(compare, [image, models, prompt, text], [gallery, table], api_name="compare",
                 concurrency_id="compare", concurrency_limit=CONCURRENCY, show_progress_on=[gallery])  # one loader
