"""The Segment tab's "Segment everything": its settings (only those the chosen model uses are shown, at that
model's defaults), the measured estimate, a progress bar fed by the run's batches, and a Cancel that stops
the run between batches and says so.

:class:`EverythingHandlers` is mixed into :class:`ui.segment.SegmentHandlers`, whose session, canvas and
``_outputs`` it uses; :func:`build` adds its widgets and events to the tab.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal

import gradio as gr
import numpy as np
import pandas as pd

import seglab
from seglab.registry import EVERYTHING_DEFAULTS, EVERYTHING_PATHS

from .common import CONCURRENCY, gpu, model_slot, reveal_canvas, timing, user_errors
from .session import SegmentSession

if TYPE_CHECKING:
    from seglab.results import RleMasks

OUTPUTS = 6  # session, canvas, prompt JSON, mask picks, downloads, status
Kind = Literal["decoder", "proposer", "prompts"]

# (EverythingParams field, label, default as in seglab.everything.EverythingParams, minimum, maximum, step);
# the defaults are written here so that building the tab imports no torch (a test checks they agree)
EVERYTHING_SETTINGS = (
    ("points_per_side", "Points per side (SAM-family models)", 32, 4, 64, 4),
    ("fallback_points_per_side", "Points per side (other models: one call per point)", 3, 2, 8, 1),
    ("pred_iou_thresh", "Score threshold (SAM family: predicted IoU)", 0.88, 0.0, 1.0, 0.01),
    ("stability_score_thresh", "Stability score threshold", 0.95, 0.0, 1.0, 0.01),
    ("box_nms_thresh", "Box NMS IoU threshold", 0.7, 0.1, 1.0, 0.05),
    ("crop_n_layers", "Crop layers (0 = whole image only)", 0, 0, 2, 1),
    ("min_mask_region_area", "Remove regions and holes smaller than (px)", 0, 0, 2000, 50),
)
GENERIC = ("pred_iou_thresh", "box_nms_thresh", "min_mask_region_area")  # every model's masks go through these
USED: dict[Kind, tuple[str, ...]] = {  # the settings each path of seglab.everything reads
    "decoder": ("points_per_side", "stability_score_thresh", "crop_n_layers", *GENERIC),
    "proposer": GENERIC,
    "prompts": ("fallback_points_per_side", *GENERIC),
}
SORTS = ("area", "score")  # the mask list's orders, largest first
COLUMNS = ["mask", "area (px)", "score", "box (x0, y0, x1, y1)"]
PATHS = {"decoder": "a grid of point prompts through its batched decoder",
         "proposer": "its own object proposals", "prompts": "a coarse grid of single-point prompts"}


def everything_kind(model_id: str) -> Kind:
    """Which path of ``seglab.everything`` the model takes (the registry's ``EVERYTHING_PATHS``; nothing is
    imported, so building the app stays light); an unknown id keeps every setting, and the run says what is wrong."""
    try:
        family = seglab.get_spec(model_id).family
    except seglab.SeglabError:
        return "decoder"
    return EVERYTHING_PATHS.get(family, "prompts")


def slider_defaults(model_id: str) -> list[float]:
    """The settings' values for ``model_id``: :data:`EVERYTHING_SETTINGS`' defaults with its family's own, as
    ``seglab.everything.default_params`` gives them (SAM 2's predicted-IoU threshold is 0.8); a model other than
    a SAM-family decoder has no predicted IoU, so its score threshold starts off (0)."""
    try:
        own = dict(EVERYTHING_DEFAULTS.get(seglab.get_spec(model_id).family, {}))
    except seglab.SeglabError:
        own = {}
    if model_id and everything_kind(model_id) != "decoder":
        own.setdefault("pred_iou_thresh", 0.0)
    return [own.get(name, default) for name, _, default, *_ in EVERYTHING_SETTINGS]


def controls(model_id: str) -> tuple:
    """One gr.update per setting (shown only where the model's path reads it) and the line saying which apply."""
    kind = everything_kind(model_id) if model_id else "decoder"
    used = USED[kind]
    hidden = [label.split(" (")[0].lower() for name, label, *_ in EVERYTHING_SETTINGS if name not in used]
    line = f"**{model_id}** segments everything with {PATHS[kind]}." if model_id else ""
    if hidden and model_id:
        line += f" Not used by it, so hidden: {', '.join(dict.fromkeys(hidden))}."
    return (*(gr.update(visible=name in used) for name, *_ in EVERYTHING_SETTINGS), line)


def mask_table(result: seglab.Masks | RleMasks, by: str = "area") -> pd.DataFrame:
    """One row per mask (its index, area in pixels of the original image, score, box), largest ``by`` first."""
    order = np.argsort(-(result.areas if by == "area" else result.scores), kind="stable")
    return pd.DataFrame({COLUMNS[0]: order, COLUMNS[1]: result.areas[order],
                         COLUMNS[2]: np.round(result.scores[order].astype(float), 3),
                         COLUMNS[3]: [", ".join(f"{v:.0f}" for v in result.boxes[i]) for i in order]})


def everything_params(*values: float) -> Any:
    """EverythingParams from the settings' values, in :data:`EVERYTHING_SETTINGS` order; the score threshold is
    the decoder's predicted-IoU threshold and every other model's score threshold."""
    from seglab.everything import EverythingParams

    named = {name: type(default)(value) for (name, _, default, *_), value in zip(EVERYTHING_SETTINGS, values)}
    return EverythingParams(**named, score_thresh=named["pred_iou_thresh"])


class EverythingHandlers:
    """Segment everything's events. A run (estimate, then segment) holds a threading.Event per browser
    session; Cancel sets it and the run stops at its next check (between batches and masks)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._runs: dict[str, threading.Event] = {}  # browser session -> its run's cancel event

    def _start(self, request: gr.Request | None, fresh: bool) -> threading.Event:
        user = getattr(request, "session_hash", None) or ""
        with self._lock:
            if fresh or user not in self._runs:
                self._runs[user] = threading.Event()
            return self._runs[user]

    def _finish(self, request: gr.Request | None, event: threading.Event) -> None:
        user = getattr(request, "session_hash", None) or ""
        with self._lock:
            if self._runs.get(user) is event:
                del self._runs[user]

    @user_errors
    @gpu
    def estimate(self, image: str | None, session: SegmentSession | None, model_id: str, points_per_side: int,
                 fallback_points_per_side: int, pred_iou_thresh: float, stability_score_thresh: float,
                 box_nms_thresh: float, crop_n_layers: int, min_mask_region_area: int,
                 request: gr.Request = None) -> str:
        """How long segment everything will take with these settings, measured on this image (one batch, or
        the offline model's first region trees). Starts the run that Cancel stops."""
        from seglab.everything import Cancelled, estimate_seconds

        settings = (points_per_side, fallback_points_per_side, pred_iou_thresh, stability_score_thresh,
                    box_nms_thresh, crop_n_layers, min_mask_region_area)
        event = self._start(request, fresh=True)
        session = self._session_for(image, session)
        adapter, _ = self.source.load(model_id)
        try:
            with model_slot(model_id):
                seconds = estimate_seconds(adapter, session.image, everything_params(*settings), event)
        except Cancelled:
            return "Segment everything cancelled while its time was measured."
        return f"About **{seconds:.1f} s** with **{model_id}** (measured on this image)…"

    @user_errors(keep=OUTPUTS + 1)
    @gpu
    def everything(self, image: str | None, session: SegmentSession | None, model_id: str, points_per_side: int,
                   fallback_points_per_side: int, pred_iou_thresh: float, stability_score_thresh: float,
                   box_nms_thresh: float, crop_n_layers: int, min_mask_region_area: int,
                   request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> tuple:
        """The ``/segment_everything`` endpoint: every mask of the image, filtered and de-duplicated; the
        progress bar follows its batches, Cancel stops it within a batch."""
        from seglab.everything import Cancelled, segment_everything

        settings = (points_per_side, fallback_points_per_side, pred_iou_thresh, stability_score_thresh,
                    box_nms_thresh, crop_n_layers, min_mask_region_area)
        event = self._start(request, fresh=False)
        try:
            if event.is_set():
                return (*(gr.skip() for _ in range(OUTPUTS)), "Segment everything cancelled before it started.")
            session = self._session_for(image, session)
            adapter, load_s = self.source.load(model_id)

            def step(done: int, total: int) -> None:
                progress((done, total), desc="Segment everything")

            with model_slot(model_id):
                out = segment_everything(adapter, session.image, everything_params(*settings), step, event)
        except Cancelled as e:
            return (*(gr.skip() for _ in range(OUTPUTS)), f"Segment everything {e}.")
        finally:
            self._finish(request, event)
        line = timing(model_id, load_s, out.seconds, f"everything: {out.masks.note}")
        session = session.cleared().with_result(out.masks, line)
        shown = ("drawn as outlines; pick a row of the list under the image to highlight that mask and download it "
                 "alone, Show all for every mask") if len(out.masks) > 1 else ""
        return (*self._outputs(session, show_all=True), f"Done: {out.masks.note}" + (f" ({shown})." if shown else "."))

    def mask_list(self, session: SegmentSession, by: str, listed: str, force: bool = False) -> tuple:
        """The mask list under the canvas (shown for more than MAX_PICKS masks) and the result it lists; left as it
        is while the result is the one listed, unless ``force`` (a new order)."""
        from .segment import MAX_PICKS

        result = session.result
        if session.result_key == listed and not force:
            return gr.skip(), gr.skip(), listed
        if result is None or len(result) <= MAX_PICKS:
            return gr.update(visible=False), None, session.result_key
        return gr.update(visible=True), mask_table(result, by), session.result_key

    def resort(self, session: SegmentSession, by: str, listed: str) -> tuple:
        """The mask list in another order."""
        return self.mask_list(session, by, listed, force=True)

    def pick_row(self, session: SegmentSession, evt: gr.SelectData) -> tuple:
        """A row of the mask list picked: that mask highlighted, and chosen (hidden picks radio) for downloads."""
        pick = str(int(evt.row_value[0]))
        return (*self.show(session, pick), pick)

    def show_all(self, session: SegmentSession) -> tuple:
        """Every mask drawn and chosen for downloads again."""
        return (*self.show(session, "all"), "all")

    def cancel(self, request: gr.Request = None) -> str:
        """Stop this user's segment-everything run at its next check."""
        user = getattr(request, "session_hash", None) or ""
        with self._lock:
            event = self._runs.get(user)
        if event is None:
            return "Nothing to cancel: segment everything is not running."
        event.set()
        return "Cancelling…"

    def model_changed(self, session: SegmentSession, model_id: str) -> tuple:
        """Say what happens with a model whose weights are not here; prepare the image for one that is; set the
        settings to the model's defaults."""
        from .common import warn_if_missing

        warn_if_missing(self.source, model_id)
        return self.prepare(session, model_id), *slider_defaults(model_id)


def build(h: EverythingHandlers, image: gr.Image, session: gr.State, model: gr.Dropdown, view: gr.Image,
          outs: list, initial_model: str, mask_list_slot: gr.Column) -> None:
    """The accordion's widgets and events (inside the tab's input column), and the mask list in
    ``mask_list_slot`` (under the canvas)."""
    shown = controls(initial_model)
    with gr.Accordion("Segment everything", open=False, elem_id="segment-everything-accordion"):
        note = gr.Markdown(shown[-1], elem_id="segment-everything-controls")
        sliders = [gr.Slider(lo, hi, value=default, step=step, label=label, visible=update["visible"],
                             elem_id=f"segment-everything-{name.replace('_', '-')}")
                   for (name, label, _, lo, hi, step), update, default in
                   zip(EVERYTHING_SETTINGS, shown, slider_defaults(initial_model))]
        with gr.Row():
            everything = gr.Button("Segment everything", elem_id="segment-everything")
            cancel = gr.Button("Cancel", elem_id="segment-everything-cancel")
        status = gr.Markdown(elem_id="segment-everything-status")
    with mask_list_slot:
        with gr.Column(visible=False, elem_id="segment-mask-list") as listing:
            with gr.Row():
                sort = gr.Radio(list(SORTS), value=SORTS[0], label="Sort by (largest first)",
                                elem_id="segment-mask-sort")
                everyone = gr.Button("Show all", size="sm", elem_id="segment-show-all")
            table = gr.Dataframe(headers=COLUMNS, interactive=False, max_height=300, label="Masks: pick a row",
                                 elem_id="segment-mask-table")
    listed = gr.State("")  # the result key the list shows
    picks, files = outs[3], outs[4]
    view.change(h.mask_list, [session, sort, listed], [listing, table, listed], api_visibility="private",
                show_progress="hidden")
    sort.input(h.resort, [session, sort, listed], [listing, table, listed], api_visibility="private",
               show_progress="hidden")
    reveal_canvas(
        table.select(h.pick_row, session, [view, files, picks], api_name="segment_mask_row",
                     api_visibility="private", show_progress="minimal", show_progress_on=[view]),
        everyone.click(h.show_all, session, [view, files, picks], api_name="segment_show_all",
                       api_visibility="private", show_progress="minimal", show_progress_on=[view]))
    busy = dict(concurrency_id="promptable", concurrency_limit=CONCURRENCY)
    grid = [image, session, model, *sliders]
    # the progress bar goes on the canvas, where the masks will appear, not over the estimate's line
    estimated = everything.click(h.estimate, grid, status, api_name="segment_everything_estimate",
                                 show_progress="minimal", show_progress_on=[view], **busy)
    # the canvas comes into view as the run starts (its progress is drawn there) and again with the masks
    reveal_canvas(estimated, estimated.success(h.everything, grid, outs + [status], api_name="segment_everything",
                                               show_progress="full", show_progress_on=[view], **busy))
    # no ``cancels=``: that would drop the run's reply (and leave its thread running); the event stops it
    cancel.click(h.cancel, None, status, api_name="segment_everything_cancel", api_visibility="undocumented",
                 queue=False)
    model.change(h.model_changed, [session, model], [outs[-1], *sliders], api_name="segment_model",
                 api_visibility="private", show_progress="minimal", show_progress_on=[outs[-1]])
    model.change(controls, model, [*sliders, note], api_name="segment_everything_controls",
                 api_visibility="private", show_progress="hidden")
