"""The Segment tab: click points (positive / negative), two clicks for a box, a brushed region or
a dragged box in the editor, a text prompt; masks drawn on the clicked image, with undo and clear.

Each user's image and prompt steps live in a small :class:`~ui.session.SegmentSession` (gr.State). The
image is read once, on upload, and the selected model prepares it (embedding, saliency) straight away;
a click then costs the decoder and a canvas drawn at display size. Downloads are written when asked.
The named endpoints ``/segment`` (image + prompt JSON) and ``/segment_prompt`` (prompt JSON on the
session's image) also work from gradio_client.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import cv2
import gradio as gr
import numpy as np

import seglab
from seglab.levels import LEVELS, by_level
from seglab.render import annotate, draw_prompt, outlines
from seglab.results import RleMasks

from . import everything as everything_tab
from .common import (CONCURRENCY, ModelSource, downloads, from_api, gpu, image_input, model_slot, parse_prompt,
                     prompt_json, require_task, reveal_canvas, timing, user_errors)
from .everything import EVERYTHING_SETTINGS, OUTPUTS, EverythingHandlers, slider_defaults  # noqa: F401 (re-exported)
from .session import SegmentSession

MODES = ("positive point", "negative point", "box (two clicks)")
MAX_TIMES_SHOWN = 6
MAX_PICKS = 12
READY = "Click on the image to add a point."
BEST = "best score"
LEVEL_CHOICES = (BEST, *LEVELS)
LEVEL_FAMILIES = ("sam", "sam2", "sam3")  # answer one click with three nested masks (SAM-HQ gives best + HQ)


def canvas(session: SegmentSession, pick: str = "best") -> np.ndarray | None:
    """The image at display size with the chosen mask(s), their scores and every prompt drawn on it; more than
    :data:`MAX_PICKS` masks (segment everything) as outlines, the picked one highlighted."""
    view = session.view
    if view is None:
        return None
    prompt = session.prompt(scale=session.scale)
    result = session.view_result
    if result is not None and len(result) > MAX_PICKS:
        out = draw_prompt(outlines(result, view, () if pick in ("all", "best") else (int(pick),)), prompt)
    elif (shown := selected(result, pick)) is not None and len(shown):
        out = annotate(shown, view, prompt, MAX_PICKS)
    else:
        out = draw_prompt(view, prompt)
    if session.corner is not None:
        x, y = (int(round(v * session.scale)) for v in session.corner)
        size = max(12, max(out.shape[:2]) // 40)
        cv2.drawMarker(out, (x, y), (40, 120, 255), cv2.MARKER_CROSS, size, max(2, size // 6), cv2.LINE_AA)
    return out


def selected(result: seglab.Masks | RleMasks | None, pick: str) -> seglab.Masks | RleMasks | None:
    if result is None or len(result) == 0 or pick == "all":
        return result
    if pick == "best":
        return result.select([int(np.argmax(result.scores))])
    return result.select([int(pick)])


def mask_choices(result: seglab.Masks | RleMasks | None, show_all: bool, level: str | None = None) -> dict[str, Any]:
    """A gr.Radio update listing the masks (score, label), with the best one or all preselected;
    hidden for one mask, and for more than :data:`MAX_PICKS` (segment everything) where all are shown.
    With ``level`` the masks are one click's whole / part / subpart (in that order), named so, and that level
    (or the best score) is preselected."""
    if result is None or len(result) < 2:
        return gr.update(choices=[], value=None, visible=False)
    if len(result) > MAX_PICKS:  # hidden: the mask list under the canvas sets its value
        return gr.update(choices=[("all", "all")] + [(str(i), str(i)) for i in range(len(result))], value="all",
                         visible=False)
    names = LEVELS if level is not None else [result.label_name(i) for i in range(len(result))]
    choices = [("all", "all")] + [(f"{names[i]} · {result.scores[i]:.2f}", str(i)) for i in range(len(result))]
    value = "all" if show_all else str(int(np.argmax(result.scores)))
    if level in LEVELS:
        value = str(LEVELS.index(level))
    return gr.update(choices=choices, value=value, visible=True)


def has_levels(model_id: str) -> bool:
    """Whether the model answers one click with three nested masks (whole, part, subpart)."""
    return model_id in {s.id for s in seglab.MODELS} and seglab.get_spec(model_id).family in LEVEL_FAMILIES


def level_state(model_id: str, session: SegmentSession | None = None) -> dict[str, Any]:
    """The Level control for the selected model and the result on the canvas: usable for a SAM-family model while
    there is no result yet or it is one click's three masks; else disabled saying why."""
    if not has_levels(model_id):
        return gr.update(interactive=False, info=f"{model_id or 'this model'} answers a click with one mask: no levels")
    if session is not None and session.result is not None and not session.levelled:
        return gr.update(interactive=False, info="levels are for one click's three masks; this result comes from "
                                                 "another prompt (Clear, then click once)")
    return gr.update(interactive=True, info="one click's three nested masks, largest first")


def _check_level(level: str) -> None:
    if level not in LEVEL_CHOICES:
        raise seglab.InvalidPromptError(f"unknown level {level!r}; choose one of {', '.join(LEVEL_CHOICES)}")


def prompt_summary(session: SegmentSession) -> str:
    """The prompt JSON box's text: points and boxes, plus each brushed region as its box and pixel count."""
    text = prompt_json(session.prompt())
    regions = [session.region(v) for k, v in session.steps if k == "region"]
    if not regions:
        return text
    lines = []
    for r in regions:
        ys, xs = np.nonzero(r)
        lines.append(f"brushed region: box [{xs.min()}, {ys.min()}, {xs.max() + 1}, {ys.max() + 1}], "
                     f"{len(xs)} px (kept with the points and boxes)")
    return "\n".join([text, *lines] if text else lines)


class SegmentHandlers(EverythingHandlers):
    """The tab's event handlers as plain functions over (session, widget values); segment everything's
    come from :class:`ui.everything.EverythingHandlers`."""

    def _outputs(self, session: SegmentSession, status: str = "", show_all: bool = False) -> tuple:
        picks = mask_choices(session.result, show_all or sum(k == "box" for k, _ in session.steps) > 1,
                             session.level if session.levelled else None)
        lines = "\n".join(f"- {t}" for t in session.times[-MAX_TIMES_SHOWN:])
        if session.dropped:
            status = " ".join(x for x in (status, f"⚠️ {session.dropped}") if x)
        return (session, canvas(session, picks.get("value") or "best"), prompt_summary(session), picks, None,
                "\n\n".join(x for x in (status, lines) if x))

    def _run(self, session: SegmentSession, model_id: str, text: str, what: str,
             prompt: seglab.Prompt | None = None) -> SegmentSession:
        if model_id:
            require_task(self.source, model_id, "promptable")
        prompt = prompt if prompt is not None else session.prompt(text)
        result, load_s, predict_s = self.source.run(model_id, session.image, prompt)
        levelled = (has_levels(model_id) and isinstance(result, seglab.Masks) and len(result) == len(LEVELS)
                    and prompt.points is not None and len(prompt.points) == 1 and prompt.boxes is None
                    and prompt.region is None and not prompt.text)
        if levelled:
            result = by_level(result, len(LEVELS))
        scores = " / ".join(f"{v:.2f}" for v in result.scores[:MAX_PICKS])
        found = f"{len(result)} mask{'s' * (len(result) != 1)}" + (f", score {scores}" if len(result) else "")
        line = timing(model_id, load_s, predict_s, f"{what} → {found}")
        return session.with_result(result, line + (f" ({result.note})" if result.note else ""), levelled)

    @user_errors(keep=OUTPUTS)
    def level(self, session: SegmentSession, level: str) -> tuple:
        """The Level control: which of one click's whole / part / subpart masks is drawn and downloaded (or the
        best score), kept for the next clicks."""
        _check_level(level)
        return self._outputs(replace(session, level=level))

    @staticmethod
    def _need_image(session: SegmentSession) -> None:
        if session.path is None:
            raise seglab.InvalidImageError("no image: upload one or pick an example first")

    @user_errors(keep=OUTPUTS + 2)
    def new_image(self, image: str | None, model_id: str = "", level: str = BEST,
                  session: SegmentSession | None = None) -> tuple:
        """A new image (upload, example, clear): a fresh session (keeping the Level choice); the editor gets the
        image as background; the status line last. A file that is not a usable image keeps the image in use
        (``session``'s, put back in the input) and says why once; the input put back changes nothing."""
        if session is not None and image == session.path:
            return tuple(gr.skip() for _ in range(OUTPUTS + 2))
        try:
            fresh = SegmentSession.open(image)
        except seglab.InvalidImageError as e:
            if session is None or from_api():
                raise
            gr.Warning(str(e))
            return (*(gr.skip() for _ in range(OUTPUTS)), session.path, f"⚠️ {e}")
        fresh = replace(fresh, level=level if level in LEVEL_CHOICES else BEST)
        status = ""
        if image is not None:
            status = f"Preparing the image for **{model_id}**…" if self._preparable(model_id) else READY
        editor = {"background": fresh.view, "layers": [], "composite": None}
        *shown, status = self._outputs(fresh, status)
        return (*shown, editor, gr.skip(), status)

    def _preparable(self, model_id: str) -> bool:
        return bool(model_id) and model_id in {s.id for s in seglab.MODELS} and self.source.available(model_id)

    @gpu
    def prepare(self, session: SegmentSession, model_id: str, asked: str | None = None) -> str:
        """The ``/segment_prepare`` endpoint: the model's per-image work (embedding, saliency) right after an
        upload, so the first click costs a decoder call. Says when the image is ready. With ``asked`` (the
        status line :meth:`new_image` left) only when that asked for it: not after a rejected upload."""
        if asked is not None and not asked.startswith("Preparing the image"):
            return gr.skip()
        if session.path is None or not self._preparable(model_id):
            return READY if session.path else ""
        try:
            adapter, load_s = self.source.load(model_id)
            start = time.perf_counter()
            with model_slot(model_id):
                done = seglab.prepare(adapter, session.image)
        except seglab.SeglabError as e:  # the click will say it again, where it matters
            return f"{READY} ({e})"
        if not done:
            return READY
        return f"{READY} **{model_id}** prepared the image in {time.perf_counter() - start:.1f} s."

    @user_errors(keep=OUTPUTS)
    @gpu
    def click(self, session: SegmentSession, mode: str, model_id: str, text: str, autorun: bool,
              evt: gr.SelectData) -> tuple:
        """A click on the canvas at ``evt.index`` (display pixels, mapped to image pixels): a point, or a box
        corner."""
        self._need_image(session)
        x, y = (float(v) / session.scale for v in evt.index[:2])
        if mode == MODES[2]:
            if session.corner is None:
                return self._outputs(session.add("corner", (x, y)), "Now click the opposite corner of the box.")
            (x0, y0), what = session.corner, "box"
            session = session.add("box", (min(x0, x), min(y0, y), max(x0, x), max(y0, y)))
        else:
            label = 0 if mode == MODES[1] else 1
            session, what = session.add("point", (x, y, label)), f"{'+' if label else '−'} point ({x:.0f}, {y:.0f})"
        if autorun:
            session = self._run(session, model_id, text, what)
        return self._outputs(session)

    @user_errors(keep=OUTPUTS)
    @gpu
    def undo(self, session: SegmentSession, model_id: str, text: str, autorun: bool) -> tuple:
        """Remove the last prompt step and run again on what is left."""
        session = replace(session, steps=session.steps[:-1]).with_result(None)
        if autorun and not session.prompt(text).is_empty and session.corner is None:
            session = self._run(session, model_id, text, "undo")
        return self._outputs(session)

    @user_errors(keep=OUTPUTS)
    def clear(self, session: SegmentSession) -> tuple:
        """Forget every prompt step and mask; keep the image."""
        return self._outputs(session.cleared())

    @user_errors(keep=2)
    def show(self, session: SegmentSession, pick: str | None) -> tuple:
        """Draw another of the masks (or all of them); earlier downloads no longer match and are dropped."""
        return canvas(session, pick or "best"), None

    @user_errors
    def downloads(self, session: SegmentSession, pick: str | None) -> list[str]:
        """The ``/segment_downloads`` endpoint: the shown mask(s) as mask PNG, COCO JSON and overlay, written now."""
        shown = selected(session.result, pick or "best")
        if shown is None:
            raise seglab.InvalidPromptError("nothing to download yet: segment something first")
        return downloads(shown, session.image, "segment")

    @user_errors(keep=OUTPUTS + 1)
    @gpu
    def from_editor(self, session: SegmentSession, editor: dict | None, model_id: str, text: str,
                    autorun: bool) -> tuple:
        """The editor's 'region' layer becomes a region prompt and its 'box' layer strokes a box; the strokes
        are cleared once they are in the prompt."""
        self._need_image(session)
        layers = (editor or {}).get("layers") or []
        masks = [_layer_mask(layer, *session.shape) for layer in layers[:2]]
        if not any(m.any() for m in masks):
            raise seglab.InvalidPromptError("nothing is drawn: brush on the 'region' layer or drag on the 'box' layer")
        if masks[0].any():
            session = session.add("region", masks[0])
        if len(masks) > 1 and masks[1].any():
            ys, xs = np.nonzero(masks[1])
            session = session.add("box", (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)))
        if autorun:
            session = self._run(session, model_id, text, "editor")
        return (*self._outputs(session), {"background": session.view, "layers": [], "composite": None})

    @user_errors(keep=OUTPUTS)
    @gpu
    def segment(self, image: str | None, prompt: str, model_id: str, text: str, level: str = BEST,
                session: SegmentSession | None = None) -> tuple:
        """The ``/segment`` endpoint: image + prompt JSON (+ text) through the model; masks drawn on the image,
        one click's three masks at ``level`` (or the best score) on a SAM-family model. The session's image is
        reused while the file is the same one."""
        _check_level(level)
        return self.prompt(replace(self._session_for(image, session), level=level), prompt, model_id, text)

    @user_errors(keep=OUTPUTS)
    @gpu
    def prompt(self, session: SegmentSession, prompt: str, model_id: str, text: str) -> tuple:
        """The ``/segment_prompt`` endpoint (the Segment button): the prompt JSON on the session's image."""
        self._need_image(session)
        regions = [session.region(v) for k, v in session.steps if k == "region"]
        full = parse_prompt(_json_part(prompt), text, np.logical_or.reduce(regions) if regions else None)
        session = session.with_steps(full)
        return self._outputs(self._run(session, model_id, text, "segment", prompt=full))

    @staticmethod
    def _session_for(image: str | None, session: SegmentSession | None) -> SegmentSession:
        """The session while ``image`` is its file; else a new one for ``image``."""
        if image is None:
            raise seglab.InvalidImageError("no image: upload one or pick an example first")
        return session if session is not None and session.path == str(image) else SegmentSession.open(image)


def _json_part(text: str | None) -> str:
    """The prompt box without the brushed-region summary lines :func:`prompt_summary` adds."""
    return "\n".join(line for line in (text or "").splitlines() if not line.startswith("brushed region:"))


def _layer_mask(layer: Any, height: int, width: int) -> np.ndarray:
    """Painted pixels of an editor layer (RGBA array or file path), at the image's size."""
    a = np.asarray(seglab.load_image(layer) if isinstance(layer, str) else layer)
    painted = a[..., 3] > 0 if a.ndim == 3 and a.shape[2] == 4 else a.reshape(*a.shape[:2], -1).max(-1) > 0
    if painted.shape != (height, width):
        painted = cv2.resize(painted.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return painted


def build(source: ModelSource, examples: list[str]) -> tuple[gr.Dropdown, gr.Button]:
    """The Segment tab's widgets and events (inside a gr.Blocks / gr.Tab context); returns its model list and
    Segment button (for ``ui.weights.Needs`` to enable)."""
    h = SegmentHandlers(source)
    session = gr.State(SegmentSession())
    with gr.Row(elem_id="segment-row"):  # ids for ui/app.css: on a phone the canvas follows the upload
        with gr.Column(scale=2, min_width=280, elem_id="segment-controls"):
            image = image_input(label="Image", sources=["upload", "clipboard"], height=260, elem_id="segment-input")
            if examples:
                gr.Examples(examples, inputs=image, label="Examples (COCO val2017, CC BY / CC BY-SA)",
                            elem_id="segment-examples")
            model = gr.Dropdown(source.choices("promptable"), value=source.preselect("promptable"), label="Model",
                                allow_custom_value=True, elem_id="segment-model")
            mode = gr.Radio(list(MODES), value=MODES[0], label="A click on the image adds", elem_id="segment-mode")
            text = gr.Textbox(label="Text prompt (text-capable models)", placeholder="e.g. cat")
            prompt = gr.Textbox(label="Prompt in image pixels (JSON; editable)", lines=2, elem_id="segment-prompt",
                                placeholder='{"points": [[320, 200]], "labels": [1], "boxes": [[10, 20, 300, 400]]}')
            autorun = gr.Checkbox(value=True, label="Segment after every prompt step")
            with gr.Row():
                run = gr.Button("Segment", variant="primary", elem_id="segment-run")
                undo = gr.Button("Undo", elem_id="segment-undo")
                clear = gr.Button("Clear", elem_id="segment-clear")
            with gr.Accordion("Brush a region or drag a box", open=False):
                editor = gr.ImageEditor(label="Layer 'region': brush over the object. Layer 'box': drag across it.",
                                        type="numpy", sources=[], transforms=[], image_mode="RGBA", format="jpeg",
                                        layers=gr.LayerOptions(allow_additional_layers=False, layers=["region", "box"]),
                                        brush=gr.Brush(colors=["#ffc800"], color_mode="fixed"))
                use_editor = gr.Button("Add the drawing to the prompt")
            everything_slot = gr.Column()
        with gr.Column(scale=3, elem_id="segment-result"):
            view = gr.Image(label="Click to prompt: masks and prompts drawn here", interactive=False, type="numpy",
                            format="jpeg", elem_id="segment-canvas", buttons=["download", "fullscreen"])
            picks = gr.Radio(label="Masks (pick one, or all)", visible=False, elem_id="segment-picks")
            level = gr.Radio(list(LEVEL_CHOICES), value=BEST, label="Level (one click on a SAM model)",
                             elem_id="segment-level", interactive=has_levels(model.value),
                             info=level_state(model.value)["info"])
            mask_list_slot = gr.Column()
            status = gr.Markdown(label="Status and step times", elem_id="segment-status")
            with gr.Row():
                get_files = gr.Button("Prepare downloads", size="sm", elem_id="segment-downloads")
            files = gr.File(label="Downloads: mask PNG, COCO RLE + polygons JSON, overlay", file_count="multiple")
    outs = [session, view, prompt, picks, files, status]
    busy = dict(concurrency_id="promptable", concurrency_limit=CONCURRENCY)
    # a click's reply takes a fraction of a second: a timer on the canvas, no overlay dimming every output (in
    # Chromium that overlay took about 200 ms of CPU a click, beside the model on the same machine when it is local)
    quick = dict(show_progress="minimal", show_progress_on=[view])
    loaded = image.change(h.new_image, [image, model, level, session], outs[:-1] + [editor, image, status],
                          api_name="segment_load_image", api_visibility="undocumented", **quick)
    loaded.then(h.prepare, [session, model, status], status, api_name="segment_prepare", show_progress="minimal",
                **busy)
    view.select(h.click, [session, mode, model, text, autorun], outs, api_name="segment_click",
                api_visibility="undocumented", **busy, **quick)
    undo.click(h.undo, [session, model, text, autorun], outs, api_name="segment_undo",
               api_visibility="undocumented", **busy, **quick)
    clear.click(h.clear, session, outs, api_name="segment_clear", api_visibility="undocumented", **quick)
    picks.input(h.show, [session, picks], [view, files], api_name="segment_pick", api_visibility="undocumented",
                **quick)
    get_files.click(h.downloads, [session, picks], files, api_name="segment_downloads")
    reveal_canvas(level.input(h.level, [session, level], outs, api_name="segment_level",
                              api_visibility="undocumented", **quick))
    # the Level control follows the model and the result drawn (one click's three masks, or another answer)
    for changed in (model, view):
        changed.change(level_state, [model, session], level, api_visibility="private", show_progress="hidden",
                       queue=False)
    reveal_canvas(
        use_editor.click(h.from_editor, [session, editor, model, text, autorun], outs + [editor],
                         api_name="segment_editor", api_visibility="undocumented", **busy, **quick),
        run.click(h.prompt, [session, prompt, model, text], outs, api_name="segment_prompt", **busy, **quick),
        text.submit(h.prompt, [session, prompt, model, text], outs, api_name="segment_text",
                    api_visibility="undocumented", **busy, **quick))
    api_only = gr.Button(visible=False)  # /segment: image + prompt in one call, for API clients
    api_only.click(h.segment, [image, prompt, model, text, level, session], outs, api_name="segment", **busy,
                   **quick)
    with everything_slot:
        everything_tab.build(h, image, session, model, view, outs, model.value, mask_list_slot)
    return model, run
