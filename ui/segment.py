"""The Segment tab: click points (positive / negative), two clicks for a box, a brushed region or
a dragged box in the editor, a text prompt; masks drawn on the clicked image, with undo and clear.

The image and the prompt steps live in a per-session :class:`SegmentSession` (gr.State); the
named endpoint ``/segment`` takes an image and the prompt as JSON so it also works from gradio_client.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import cv2
import gradio as gr
import numpy as np

import seglab
from seglab.everything import EverythingParams, estimate_seconds, segment_everything
from seglab.render import draw_prompt, overlay

from .common import (CONCURRENCY, ModelSource, downloads, gpu, image_input, model_slot, parse_prompt, prompt_json,
                     read_image, timing, user_errors, warn_if_missing)

MODES = ("positive point", "negative point", "box (two clicks)")
MAX_TIMES_SHOWN = 6
MAX_PICKS = 12


@dataclass(frozen=True)
class SegmentSession:
    """One user's image, prompt steps (in image pixels), last result and step timings."""

    image: np.ndarray | None = None
    # ("point", (x, y, label)) | ("box", xyxy) | ("corner", (x, y)) | ("region", H x W bool)
    steps: tuple[tuple[str, Any], ...] = ()
    result: seglab.Masks | None = None
    times: tuple[str, ...] = ()

    def prompt(self, text: str | None = None) -> seglab.Prompt:
        points = [v for k, v in self.steps if k == "point"]
        boxes = [v for k, v in self.steps if k == "box"]
        regions = [v for k, v in self.steps if k == "region"]
        return seglab.Prompt.build(points=[p[:2] for p in points] or None, labels=[p[2] for p in points] or None,
                                   boxes=boxes or None, region=np.logical_or.reduce(regions) if regions else None,
                                   text=(text or "").strip() or None)

    @property
    def corner(self) -> tuple[float, float] | None:
        return self.steps[-1][1] if self.steps and self.steps[-1][0] == "corner" else None

    def add(self, kind: str, value: Any) -> SegmentSession:
        steps = tuple(s for s in self.steps if s[0] != "corner")
        return replace(self, steps=steps + ((kind, value),))


def canvas(session: SegmentSession, pick: str = "best") -> np.ndarray | None:
    """The image with the chosen mask(s) and every prompt drawn on it, at full resolution."""
    if session.image is None:
        return None
    out = session.image
    shown = selected(session.result, pick)
    if shown is not None and len(shown):
        out = overlay(shown, out)
        if len(shown) <= MAX_PICKS:
            out = label_scores(out, shown)
    out = draw_prompt(out, session.prompt())
    if session.corner is not None:
        x, y = (int(round(v)) for v in session.corner)
        size = max(12, max(out.shape[:2]) // 40)
        cv2.drawMarker(out, (x, y), (40, 120, 255), cv2.MARKER_CROSS, size, max(2, size // 6), cv2.LINE_AA)
    return out


def label_scores(image: np.ndarray, masks: seglab.Masks) -> np.ndarray:
    """Each mask's score written, white on black, centred on the mask's centre of mass."""
    out = image.copy()
    scale = max(0.5, max(image.shape[:2]) / 1200)
    thickness = max(1, round(scale * 2))
    for mask, score in zip(masks.masks, masks.scores):
        ys, xs = np.nonzero(mask)
        if not len(xs):
            continue
        text = f"{score:.2f}"
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        x, y = int(xs.mean()) - w // 2, int(ys.mean()) + h // 2
        cv2.rectangle(out, (x - 2, y - h - 2), (x + w + 2, y + base), (0, 0, 0), cv2.FILLED)
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


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


class SegmentHandlers:
    """The tab's event handlers as plain functions over (session, widget values)."""

    def __init__(self, source: ModelSource) -> None:
        self.source = source

    def _outputs(self, session: SegmentSession, status: str = "", show_all: bool = False) -> tuple:
        picks = mask_choices(session.result, show_all or sum(k == "box" for k, _ in session.steps) > 1)
        pick = picks.get("value") or "best"
        files = downloads(selected(session.result, pick), session.image, "segment") if session.result else None
        lines = "\n".join(f"- {t}" for t in session.times[-MAX_TIMES_SHOWN:])
        return (session, canvas(session, pick), prompt_json(session.prompt()), picks, files,
                "\n\n".join(x for x in (status, lines) if x))

    def _run(self, session: SegmentSession, model_id: str, text: str, what: str,
             prompt: seglab.Prompt | None = None) -> SegmentSession:
        prompt = prompt if prompt is not None else session.prompt(text)
        result, load_s, predict_s = self.source.run(model_id, session.image, prompt)
        scores = " / ".join(f"{v:.2f}" for v in result.scores[:MAX_PICKS])
        found = f"{len(result)} mask{'s' * (len(result) != 1)}" + (f", score {scores}" if len(result) else "")
        line = timing(model_id, load_s, predict_s, f"{what} → {found}")
        if result.note:
            line += f" ({result.note})"
        return replace(session, result=result, times=session.times + (line,))

    @user_errors
    def new_image(self, image: Any) -> tuple:
        """A new image (upload, example, clear): a fresh session; the editor gets the image as background."""
        session = SegmentSession(read_image(image) if image is not None else None)
        editor = {"background": session.image, "layers": [], "composite": None}
        return (*self._outputs(session, "Click on the image to add a point." if image is not None else ""), editor)

    @user_errors
    @gpu
    def click(self, session: SegmentSession, mode: str, model_id: str, text: str, autorun: bool,
              evt: gr.SelectData) -> tuple:
        """A click on the image at ``evt.index`` (image pixels): a point, or a box corner."""
        if session.image is None:
            raise seglab.InvalidImageError("no image: upload one or pick an example first")
        x, y = (float(v) for v in evt.index[:2])
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

    @user_errors
    @gpu
    def undo(self, session: SegmentSession, model_id: str, text: str, autorun: bool) -> tuple:
        """Remove the last prompt step and run again on what is left."""
        session = replace(session, steps=session.steps[:-1], result=None)
        if autorun and not session.prompt(text).is_empty and session.corner is None:
            session = self._run(session, model_id, text, "undo")
        return self._outputs(session)

    @user_errors
    def clear(self, session: SegmentSession) -> tuple:
        """Forget every prompt step and mask; keep the image."""
        return self._outputs(SegmentSession(session.image))

    @user_errors
    def show(self, session: SegmentSession, pick: str | None) -> tuple:
        """Draw another of the masks (or all of them); the downloads follow."""
        shown = selected(session.result, pick or "best")
        files = downloads(shown, session.image, "segment") if shown is not None else None
        return canvas(session, pick or "best"), files

    @user_errors
    @gpu
    def from_editor(self, session: SegmentSession, editor: dict | None, model_id: str, text: str,
                    autorun: bool) -> tuple:
        """The editor's 'region' layer becomes a region prompt and its 'box' layer strokes a box."""
        if session.image is None:
            raise seglab.InvalidImageError("no image: upload one or pick an example first")
        layers = (editor or {}).get("layers") or []
        h, w = session.image.shape[:2]
        masks = [_layer_mask(layer, h, w) for layer in layers[:2]]
        if len(masks) > 0 and masks[0].any():
            session = session.add("region", masks[0])
        if len(masks) > 1 and masks[1].any():
            ys, xs = np.nonzero(masks[1])
            session = session.add("box", (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)))
        if not any(m.any() for m in masks):
            raise seglab.InvalidPromptError("nothing is drawn: brush on the 'region' layer or drag on the 'box' layer")
        if autorun:
            session = self._run(session, model_id, text, "editor")
        return self._outputs(session)

    @user_errors
    @gpu
    def segment(self, image: Any, prompt: str, model_id: str, text: str,
                session: SegmentSession | None = None) -> tuple:
        """The ``/segment`` endpoint: image + prompt JSON (+ text) through the model; masks drawn on the image."""
        array = read_image(image)
        session = session if session is not None and _same(session.image, array) else SegmentSession(array)
        regions = [v for k, v in session.steps if k == "region"]
        full = parse_prompt(prompt, text, np.logical_or.reduce(regions) if regions else None)
        steps = [("point", (float(x), float(y), int(lab))) for (x, y), lab in
                 zip(full.points if full.points is not None else [], full.point_labels if full.points is not None
                     else [])]
        steps += [("box", tuple(float(v) for v in b)) for b in (full.boxes if full.boxes is not None else [])]
        steps += [("region", r) for r in regions]
        session = replace(session, steps=tuple(steps), result=None)
        return self._outputs(self._run(session, model_id, text, "segment", prompt=full))

    @user_errors
    @gpu
    def estimate(self, image: Any, model_id: str, points_per_side: int, fallback_points_per_side: int,
                 pred_iou_thresh: float, stability_score_thresh: float, box_nms_thresh: float, crop_n_layers: int,
                 min_mask_region_area: int) -> str:
        """How long segment-everything will take with these settings (one batch is measured)."""
        adapter, _ = self.source.load(model_id)
        params = everything_params(points_per_side, fallback_points_per_side, pred_iou_thresh,
                                   stability_score_thresh, box_nms_thresh, crop_n_layers, min_mask_region_area)
        with model_slot(model_id):
            seconds = estimate_seconds(adapter, read_image(image), params)
        return f"Segment everything with **{model_id}**: about **{seconds:.1f} s** (estimated from one batch)…"

    @user_errors
    @gpu
    def everything(self, image: Any, model_id: str, points_per_side: int, fallback_points_per_side: int,
                   pred_iou_thresh: float, stability_score_thresh: float, box_nms_thresh: float, crop_n_layers: int,
                   min_mask_region_area: int, progress: gr.Progress = gr.Progress()) -> tuple:
        """The ``/segment_everything`` endpoint: a grid of point prompts, filtered and de-duplicated."""
        array = read_image(image)
        adapter, load_s = self.source.load(model_id)
        params = everything_params(points_per_side, fallback_points_per_side, pred_iou_thresh,
                                   stability_score_thresh, box_nms_thresh, crop_n_layers, min_mask_region_area)
        with model_slot(model_id):
            out = segment_everything(adapter, array, params, progress=lambda done, total: progress((done, total)))
        line = timing(model_id, load_s, out.seconds, f"everything: {out.masks.note}")
        return self._outputs(SegmentSession(array, result=out.masks, times=(line,)), show_all=True)

    def model_changed(self, model_id: str) -> None:
        warn_if_missing(self.source, model_id)


EVERYTHING_SETTINGS = (  # (EverythingParams field, label, minimum, maximum, step)
    ("points_per_side", "Points per side (SAM-family models)", 4, 64, 4),
    ("fallback_points_per_side", "Points per side (other models: one call per point)", 2, 8, 1),
    ("pred_iou_thresh", "Predicted IoU threshold", 0.0, 1.0, 0.01),
    ("stability_score_thresh", "Stability score threshold", 0.0, 1.0, 0.01),
    ("box_nms_thresh", "Box NMS IoU threshold", 0.1, 1.0, 0.05),
    ("crop_n_layers", "Crop layers (0 = whole image only)", 0, 2, 1),
    ("min_mask_region_area", "Remove regions and holes smaller than (px)", 0, 2000, 50),
)


def everything_params(*values: float) -> EverythingParams:
    """EverythingParams from the sliders' values, in :data:`EVERYTHING_SETTINGS` order."""
    return EverythingParams(**{name: type(getattr(EverythingParams, name))(value)
                               for (name, *_), value in zip(EVERYTHING_SETTINGS, values)})


def _same(a: np.ndarray | None, b: np.ndarray) -> bool:
    return a is not None and a.shape == b.shape and np.array_equal(a, b)


def _layer_mask(layer: Any, height: int, width: int) -> np.ndarray:
    """Painted pixels of an editor layer (RGBA array or file path), at the image's size."""
    a = np.asarray(seglab.load_image(layer) if isinstance(layer, str) else layer)
    painted = a[..., 3] > 0 if a.ndim == 3 and a.shape[2] == 4 else a.reshape(*a.shape[:2], -1).max(-1) > 0
    if painted.shape != (height, width):
        painted = cv2.resize(painted.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return painted


def build(source: ModelSource, examples: list[str]) -> None:
    """The Segment tab's widgets and events (inside a gr.Blocks / gr.Tab context)."""
    h = SegmentHandlers(source)
    session = gr.State(SegmentSession())
    with gr.Row():
        with gr.Column(scale=2, min_width=280):
            image = image_input(label="Image", type="filepath", sources=["upload", "clipboard"], height=260,
                             elem_id="segment-input")
            if examples:
                gr.Examples(examples, inputs=image, label="Examples (COCO val2017, CC BY / CC BY-SA)")
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
                                        type="numpy", sources=[], transforms=[], image_mode="RGBA",
                                        layers=gr.LayerOptions(allow_additional_layers=False, layers=["region", "box"]),
                                        brush=gr.Brush(colors=["#ffc800"], color_mode="fixed"))
                use_editor = gr.Button("Add the drawing to the prompt")
            with gr.Accordion("Segment everything", open=False):
                sliders = [gr.Slider(lo, hi, value=getattr(EverythingParams, name), step=step, label=label)
                           for name, label, lo, hi, step in EVERYTHING_SETTINGS]
                everything = gr.Button("Segment everything", elem_id="segment-everything")
        with gr.Column(scale=3):
            view = gr.Image(label="Click to prompt: masks and prompts drawn here", interactive=False, type="numpy",
                            format="png", elem_id="segment-canvas", buttons=["download", "fullscreen"])
            picks = gr.Radio(label="Masks (pick one, or all)", visible=False, elem_id="segment-picks")
            status = gr.Markdown(label="Status and step times", elem_id="segment-status")
            files = gr.File(label="Downloads: mask PNG, COCO RLE + polygons JSON, overlay", file_count="multiple")
    outs = [session, view, prompt, picks, files, status]
    busy = dict(concurrency_id="promptable", concurrency_limit=CONCURRENCY)
    image.change(h.new_image, image, outs + [editor], api_name="segment_load_image", api_visibility="undocumented")
    view.select(h.click, [session, mode, model, text, autorun], outs, api_name="segment_click",
                api_visibility="undocumented", **busy)
    undo.click(h.undo, [session, model, text, autorun], outs, api_name="segment_undo",
               api_visibility="undocumented", **busy)
    clear.click(h.clear, session, outs, api_name="segment_clear", api_visibility="undocumented")
    picks.input(h.show, [session, picks], [view, files], api_name="segment_pick", api_visibility="undocumented")
    use_editor.click(h.from_editor, [session, editor, model, text, autorun], outs, api_name="segment_editor",
                     api_visibility="undocumented", **busy)
    inputs = [image, prompt, model, text, session]
    run.click(h.segment, inputs, outs, api_name="segment", **busy)
    text.submit(h.segment, inputs, outs, api_name="segment_text", api_visibility="undocumented", **busy)
    everything.click(h.estimate, [image, model, *sliders], status, api_name="segment_everything_estimate", **busy
                     ).success(h.everything, [image, model, *sliders], outs, api_name="segment_everything", **busy)
    model.change(h.model_changed, model, None, api_name="segment_model", api_visibility="private")
