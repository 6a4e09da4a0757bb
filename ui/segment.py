"""The Segment tab: click points (positive / negative), two clicks for a box, a brushed region or
a dragged box in the editor, a text prompt; masks drawn on the clicked image, with undo and clear.

Each user's image and prompt steps live in a small :class:`~ui.session.SegmentSession` (gr.State). The
image is read once, on upload, and the selected model prepares it (embedding, saliency) straight away;
a click then costs the decoder and a canvas drawn at display size. Downloads are written when asked.
The named endpoints ``/segment`` (image + prompt JSON) and ``/segment_prompt`` (prompt JSON on the
session's image) also work from gradio_client.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import cv2
import gradio as gr
import numpy as np

import seglab
from seglab.registry import EVERYTHING_DEFAULTS
from seglab.render import annotate, draw_prompt

from .common import (CONCURRENCY, ModelSource, downloads, gpu, image_input, model_slot, parse_prompt, prompt_json,
                     require_task, timing, user_errors, warn_if_missing)
from .session import SegmentSession

MODES = ("positive point", "negative point", "box (two clicks)")
MAX_TIMES_SHOWN = 6
MAX_PICKS = 12
READY = "Click on the image to add a point."
OUTPUTS = 6  # session, canvas, prompt JSON, mask picks, downloads, status


class Cancelled(Exception):
    """Segment everything was cancelled by its user."""


def canvas(session: SegmentSession, pick: str = "best") -> np.ndarray | None:
    """The image at display size with the chosen mask(s), their scores and every prompt drawn on it."""
    view = session.view
    if view is None:
        return None
    prompt = session.prompt(scale=session.scale)
    shown = selected(session.result, pick)
    if shown is not None and len(shown):
        out = annotate(resized(shown, view.shape[:2]), view, prompt, MAX_PICKS)
    else:
        out = draw_prompt(view, prompt)
    if session.corner is not None:
        x, y = (int(round(v * session.scale)) for v in session.corner)
        size = max(12, max(out.shape[:2]) // 40)
        cv2.drawMarker(out, (x, y), (40, 120, 255), cv2.MARKER_CROSS, size, max(2, size // 6), cv2.LINE_AA)
    return out


def resized(masks: seglab.Masks, shape: tuple[int, int]) -> seglab.Masks:
    """The masks at another (display) size."""
    if masks.image_size == shape:
        return masks
    h, w = shape
    small = np.stack([cv2.resize(m.view(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR) > 0 for m in masks.masks])
    return seglab.Masks(small, masks.scores, labels=masks.labels, class_names=masks.class_names)


def selected(result: seglab.Masks | None, pick: str) -> seglab.Masks | None:
    if result is None or len(result) == 0 or pick == "all":
        return result
    if pick == "best":
        return result.select([int(np.argmax(result.scores))])
    return result.select([int(pick)])


def mask_choices(result: seglab.Masks | None, show_all: bool) -> dict[str, Any]:
    """A gr.Radio update listing the masks (score, label), with the best one or all preselected;
    hidden for one mask, and for more than :data:`MAX_PICKS` (segment everything) where all are shown."""
    if result is None or len(result) < 2:
        return gr.update(choices=[], value=None, visible=False)
    if len(result) > MAX_PICKS:
        return gr.update(choices=[("all", "all")], value="all", visible=False)
    choices = [("all", "all")] + [(f"{result.label_name(i)} · {result.scores[i]:.2f}", str(i))
                                  for i in range(len(result))]
    value = "all" if show_all else str(int(np.argmax(result.scores)))
    return gr.update(choices=choices, value=value, visible=True)


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


class SegmentHandlers:
    """The tab's event handlers as plain functions over (session, widget values)."""

    def __init__(self, source: ModelSource) -> None:
        self.source = source
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    def _outputs(self, session: SegmentSession, status: str = "", show_all: bool = False) -> tuple:
        picks = mask_choices(session.result, show_all or sum(k == "box" for k, _ in session.steps) > 1)
        lines = "\n".join(f"- {t}" for t in session.times[-MAX_TIMES_SHOWN:])
        return (session, canvas(session, picks.get("value") or "best"), prompt_summary(session), picks, None,
                "\n\n".join(x for x in (status, lines) if x))

    def _run(self, session: SegmentSession, model_id: str, text: str, what: str,
             prompt: seglab.Prompt | None = None) -> SegmentSession:
        if model_id:
            require_task(self.source, model_id, "promptable")
        prompt = prompt if prompt is not None else session.prompt(text)
        result, load_s, predict_s = self.source.run(model_id, session.image, prompt)
        scores = " / ".join(f"{v:.2f}" for v in result.scores[:MAX_PICKS])
        found = f"{len(result)} mask{'s' * (len(result) != 1)}" + (f", score {scores}" if len(result) else "")
        line = timing(model_id, load_s, predict_s, f"{what} → {found}")
        return session.with_result(result, line + (f" ({result.note})" if result.note else ""))

    @staticmethod
    def _need_image(session: SegmentSession) -> None:
        if session.path is None:
            raise seglab.InvalidImageError("no image: upload one or pick an example first")

    @user_errors(keep=OUTPUTS + 1)
    def new_image(self, image: str | None, model_id: str = "") -> tuple:
        """A new image (upload, example, clear): a fresh session; the editor gets the image as background."""
        session = SegmentSession.open(image)
        status = ""
        if image is not None:
            status = f"Preparing the image for **{model_id}**…" if self._preparable(model_id) else READY
        editor = {"background": session.view, "layers": [], "composite": None}
        return (*self._outputs(session, status), editor)

    def _preparable(self, model_id: str) -> bool:
        return bool(model_id) and model_id in {s.id for s in seglab.MODELS} and self.source.available(model_id)

    @gpu
    def prepare(self, session: SegmentSession, model_id: str) -> str:
        """The ``/segment_prepare`` endpoint: the model's per-image work (embedding, saliency) right after an
        upload, so the first click costs a decoder call. Says when the image is ready."""
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
    def segment(self, image: str | None, prompt: str, model_id: str, text: str,
                session: SegmentSession | None = None) -> tuple:
        """The ``/segment`` endpoint: image + prompt JSON (+ text) through the model; masks drawn on the image.
        The session's image is reused while the file is the same one."""
        return self.prompt(self._session_for(image, session), prompt, model_id, text)

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

    @user_errors
    @gpu
    def estimate(self, image: str | None, session: SegmentSession | None, model_id: str, points_per_side: int,
                 fallback_points_per_side: int, pred_iou_thresh: float, stability_score_thresh: float,
                 box_nms_thresh: float, crop_n_layers: int, min_mask_region_area: int) -> str:
        """How long segment-everything will take with these settings (one batch is measured)."""
        from seglab.everything import estimate_seconds

        session = self._session_for(image, session)
        adapter, _ = self.source.load(model_id)
        params = everything_params(points_per_side, fallback_points_per_side, pred_iou_thresh,
                                   stability_score_thresh, box_nms_thresh, crop_n_layers, min_mask_region_area)
        with model_slot(model_id):
            seconds = estimate_seconds(adapter, session.image, params)
        return f"About **{seconds:.1f} s** with **{model_id}** (estimated from one batch)…"

    @user_errors(keep=OUTPUTS + 1)
    @gpu
    def everything(self, image: str | None, session: SegmentSession | None, model_id: str, points_per_side: int,
                   fallback_points_per_side: int, pred_iou_thresh: float, stability_score_thresh: float,
                   box_nms_thresh: float, crop_n_layers: int, min_mask_region_area: int,
                   request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> tuple:
        """The ``/segment_everything`` endpoint: a grid of point prompts, filtered and de-duplicated; the
        Cancel button stops it after the batch that is running."""
        from seglab.everything import segment_everything

        session = self._session_for(image, session)
        params = everything_params(points_per_side, fallback_points_per_side, pred_iou_thresh,
                                   stability_score_thresh, box_nms_thresh, crop_n_layers, min_mask_region_area)
        user = getattr(request, "session_hash", None) or ""
        with self._lock:
            self._cancelled.discard(user)

        def step(done: int, total: int) -> None:
            if user in self._cancelled:
                raise Cancelled(f"cancelled after {done} of {total} batches")
            progress((done, total), desc="Segment everything")

        adapter, load_s = self.source.load(model_id)
        try:
            with model_slot(model_id):
                out = segment_everything(adapter, session.image, params, progress=step)
        except Cancelled as e:
            return (*(gr.skip() for _ in range(OUTPUTS)), f"Segment everything {e}.")
        line = timing(model_id, load_s, out.seconds, f"everything: {out.masks.note}")
        session = session.cleared().with_result(out.masks, line)
        return (*self._outputs(session, show_all=True), f"Done: {out.masks.note}.")

    def cancel(self, request: gr.Request = None) -> str:
        """Stop this user's segment-everything run after its current batch."""
        with self._lock:
            self._cancelled.add(getattr(request, "session_hash", None) or "")
        return "Cancelling…"

    def model_changed(self, session: SegmentSession, model_id: str) -> tuple:
        """Say what happens with a model whose weights are not here; prepare the image for one that is; set the
        segment-everything sliders to the model family's defaults."""
        warn_if_missing(self.source, model_id)
        return self.prepare(session, model_id), *slider_defaults(model_id)


# (EverythingParams field, label, default as in seglab.everything.EverythingParams, minimum, maximum, step);
# the defaults are written here so that building the tab imports no torch (a test checks they agree)
EVERYTHING_SETTINGS = (
    ("points_per_side", "Points per side (SAM-family models)", 32, 4, 64, 4),
    ("fallback_points_per_side", "Points per side (other models: one call per point)", 3, 2, 8, 1),
    ("pred_iou_thresh", "Predicted IoU threshold", 0.88, 0.0, 1.0, 0.01),
    ("stability_score_thresh", "Stability score threshold", 0.95, 0.0, 1.0, 0.01),
    ("box_nms_thresh", "Box NMS IoU threshold", 0.7, 0.1, 1.0, 0.05),
    ("crop_n_layers", "Crop layers (0 = whole image only)", 0, 0, 2, 1),
    ("min_mask_region_area", "Remove regions and holes smaller than (px)", 0, 0, 2000, 50),
)


def slider_defaults(model_id: str) -> list[float]:
    """The segment-everything sliders' values for ``model_id``: :data:`EVERYTHING_SETTINGS`' defaults with its
    family's own, as ``seglab.everything.default_params`` gives them (SAM 2's predicted-IoU threshold is 0.8)."""
    try:
        own = EVERYTHING_DEFAULTS.get(seglab.get_spec(model_id).family, {})
    except seglab.SeglabError:
        own = {}
    return [own.get(name, default) for name, _, default, *_ in EVERYTHING_SETTINGS]


def everything_params(*values: float) -> Any:
    """EverythingParams from the sliders' values, in :data:`EVERYTHING_SETTINGS` order."""
    from seglab.everything import EverythingParams

    return EverythingParams(**{name: type(default)(value)
                               for (name, _, default, *_), value in zip(EVERYTHING_SETTINGS, values)})


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


def build(source: ModelSource, examples: list[str]) -> gr.Dropdown:
    """The Segment tab's widgets and events (inside a gr.Blocks / gr.Tab context); returns its model list."""
    h = SegmentHandlers(source)
    session = gr.State(SegmentSession())
    with gr.Row():
        with gr.Column(scale=2, min_width=280):
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
            with gr.Accordion("Segment everything", open=False):
                sliders = [gr.Slider(lo, hi, value=default, step=step, label=label)
                           for _, label, default, lo, hi, step in EVERYTHING_SETTINGS]
                with gr.Row():
                    everything = gr.Button("Segment everything", elem_id="segment-everything")
                    cancel = gr.Button("Cancel", elem_id="segment-everything-cancel")
                progress = gr.Markdown(elem_id="segment-everything-status")
        with gr.Column(scale=3):
            view = gr.Image(label="Click to prompt: masks and prompts drawn here", interactive=False, type="numpy",
                            format="jpeg", elem_id="segment-canvas", buttons=["download", "fullscreen"])
            picks = gr.Radio(label="Masks (pick one, or all)", visible=False, elem_id="segment-picks")
            status = gr.Markdown(label="Status and step times", elem_id="segment-status")
            with gr.Row():
                get_files = gr.Button("Prepare downloads", size="sm", elem_id="segment-downloads")
            files = gr.File(label="Downloads: mask PNG, COCO RLE + polygons JSON, overlay", file_count="multiple")
    outs = [session, view, prompt, picks, files, status]
    busy = dict(concurrency_id="promptable", concurrency_limit=CONCURRENCY)
    # a click's reply takes a fraction of a second: a timer on the canvas, no overlay dimming every output (in
    # Chromium that overlay took about 200 ms of CPU a click, beside the model on the same machine when it is local)
    quick = dict(show_progress="minimal", show_progress_on=[view])
    loaded = image.change(h.new_image, [image, model], outs + [editor], api_name="segment_load_image",
                          api_visibility="undocumented", **quick)
    loaded.then(h.prepare, [session, model], status, api_name="segment_prepare", show_progress="minimal", **busy)
    view.select(h.click, [session, mode, model, text, autorun], outs, api_name="segment_click",
                api_visibility="undocumented", **busy, **quick)
    undo.click(h.undo, [session, model, text, autorun], outs, api_name="segment_undo",
               api_visibility="undocumented", **busy, **quick)
    clear.click(h.clear, session, outs, api_name="segment_clear", api_visibility="undocumented", **quick)
    picks.input(h.show, [session, picks], [view, files], api_name="segment_pick", api_visibility="undocumented",
                **quick)
    get_files.click(h.downloads, [session, picks], files, api_name="segment_downloads")
    use_editor.click(h.from_editor, [session, editor, model, text, autorun], outs + [editor],
                     api_name="segment_editor", api_visibility="undocumented", **busy, **quick)
    run.click(h.prompt, [session, prompt, model, text], outs, api_name="segment_prompt", **busy, **quick)
    text.submit(h.prompt, [session, prompt, model, text], outs, api_name="segment_text",
                api_visibility="undocumented", **busy, **quick)
    api_only = gr.Button(visible=False)  # /segment: image + prompt in one call, for API clients
    api_only.click(h.segment, [image, prompt, model, text, session], outs, api_name="segment", **busy, **quick)
    grid = [image, session, model, *sliders]
    estimated = everything.click(h.estimate, grid, progress, api_name="segment_everything_estimate", **busy)
    finished = estimated.success(h.everything, grid, outs + [progress], api_name="segment_everything",
                                 show_progress_on=[progress], scroll_to_output=True, **busy)
    cancel.click(h.cancel, None, progress, api_name="segment_everything_cancel", api_visibility="undocumented",
                 cancels=[estimated, finished])
    model.change(h.model_changed, [session, model], [status, *sliders], api_name="segment_model",
                 api_visibility="private", show_progress="minimal", show_progress_on=[status])  # as segment_prepare
    return model
