"""What a tab needs to run here: one line at its top (can any of its models run, and if not how to get one),
a "Download weights" button for the selected model, doing what ``python -m seglab download MODEL`` does, and
the tab's Run button, not interactive (its label saying why) while the selected model cannot run here.

Whether weights are here comes from ``seglab.is_available`` (the local caches, no network). Online, the
download size comes from the Hub's API when the line is drawn for a model that is not here (on page load or
when the model changes; never when the app is built), and is kept.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

import gradio as gr
from huggingface_hub import is_offline_mode

import seglab

from .common import ModelSource, user_errors

log = logging.getLogger("seglab.app")

HUB_TIMEOUT_S = 5
SHOWN = 3  # models named in the line before "and N more"
LABEL = "Download weights"
OFFLINE_LABEL = "Download weights (the Hub is offline)"
BLOCKED = "(not downloaded, the Hub is offline: see above)"  # after a Run button's label while it cannot run

_sizes: dict[str, int] = {}
_sizes_lock = threading.Lock()


def repos(spec: seglab.ModelSpec) -> list[str]:
    """The Hub repositories ``seglab.download`` fetches for a model (its weights, plus a detector's)."""
    return [spec.weights] + [v for k, v in spec.extra.items() if k == "detector"]


def download_bytes(model_id: str) -> int | None:
    """Bytes ``seglab.download(model_id)`` fetches, from the Hub's file list; None offline, for weights not on
    the Hub (torchvision), or when the Hub does not answer in time. Kept once known."""
    spec = seglab.get_spec(model_id)
    if spec.source != "hf" or is_offline_mode():
        return None
    with _sizes_lock:
        if model_id in _sizes:
            return _sizes[model_id]
    from huggingface_hub import HfApi

    try:
        infos = [HfApi().model_info(r, files_metadata=True, timeout=HUB_TIMEOUT_S) for r in repos(spec)]
    except Exception as e:  # unreachable or rate-limited: the line goes without the size
        log.info("no download size for %s: %s", model_id, e)
        return None
    total = sum(f.size or 0 for info in infos for f in info.siblings or ())
    with _sizes_lock:
        _sizes[model_id] = total
    return total


def human_size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _named(ids: list[str]) -> str:
    more = f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return ", ".join(ids[:SHOWN]) + more


def needs_line(source: ModelSource, task: str, model_id: str) -> str:
    """One line: which of the task's models can run here, and what the selected one needs when it cannot."""
    ids = [s.id for s in seglab.list_models(task)]
    here = [m for m in ids if source.available(m)]
    head = (f"✅ {len(here)} of {len(ids)} {task} models can run here: {_named(here)}." if here else
            f"⚠️ No {task} model can run here yet.")
    if not model_id or model_id not in ids or model_id in here:
        return head
    if is_offline_mode():
        return (f"{head} **{model_id}** is not downloaded and the Hub is offline: on a machine with internet run "
                f"`python -m seglab download {model_id}`.")
    size = download_bytes(model_id)
    size_text = f", {human_size(size)}" if size else ""
    return (f"{head} **{model_id}** downloads its weights (`{seglab.get_spec(model_id).weights}`{size_text}) "
            f"on its first run, or now with *{LABEL}*.")


def cannot_run(source: ModelSource, model_id: str) -> bool:
    """Whether a registry model cannot run here: its weights are not here and the Hub is offline. Unknown ids
    are left to the run, whose error names close matches."""
    known = bool(model_id) and model_id in {s.id for s in seglab.MODELS}
    return known and is_offline_mode() and not source.available(model_id)


def run_state(source: ModelSource, model_id: str, label: str, blocked: str = BLOCKED) -> dict[str, Any]:
    """A tab's Run button (``label``) for the selected model: not interactive, ``blocked`` after its label,
    when the model :func:`cannot_run` here."""
    if cannot_run(source, model_id):
        return gr.update(interactive=False, value=f"{label} {blocked}")
    return gr.update(interactive=True, value=label)


def button_state(source: ModelSource, model_id: str) -> dict[str, Any]:
    """The download button: shown for a registry model whose weights are not here; disabled offline."""
    known = bool(model_id) and model_id in {s.id for s in seglab.MODELS}
    if not known or source.available(model_id):
        return gr.update(visible=False)
    offline = is_offline_mode()
    return gr.update(visible=True, interactive=not offline, value=OFFLINE_LABEL if offline else LABEL)


class Needs:
    """The line and the button at the top of one tab's task: :meth:`build` them first in the tab, then
    :meth:`wire` them to the tab's model list (and its Run button)."""

    def __init__(self, source: ModelSource, task: str) -> None:
        self.source, self.task = source, task

    def build(self) -> None:
        """The line and the button, in a row (call first inside the tab)."""
        with gr.Row(equal_height=True):
            self.line = gr.Markdown(elem_id=f"{self.task}-needs")
            self.button = gr.Button(LABEL, size="sm", visible=False, scale=0, min_width=220,
                                    elem_id=f"{self.task}-download")

    def refresh(self, model_id: str) -> tuple:
        """(button, line) for the selected model."""
        return button_state(self.source, model_id), needs_line(self.source, self.task, model_id)

    @user_errors(keep=3)
    def download(self, model_id: str, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:
        """Fetch the selected model's weights as ``seglab.download`` does (the Hub's progress bars shown);
        then (button, model list, line)."""
        spec = seglab.get_spec(model_id)
        if is_offline_mode():
            raise seglab.WeightsUnavailableError(
                f"the Hub is offline (HF_HUB_OFFLINE): on a machine with internet run "
                f"`python -m seglab download {spec.id}`")
        progress(0, desc=f"Downloading {spec.weights}")
        try:
            seglab.download(spec.id)
        except Exception as e:
            log.exception("downloading %s failed", spec.id)
            raise seglab.WeightsUnavailableError(f"downloading {spec.weights} failed: {type(e).__name__}: "
                                                 f"{str(e).splitlines()[0] if str(e) else 'no details'}") from None
        button, line = self.refresh(spec.id)
        return button, gr.update(choices=self.source.choices(self.task)), line

    def wire(self, demo: gr.Blocks, model: gr.Dropdown, run: gr.Button | None = None) -> None:
        """Draw the line on page load and on every model change; the button downloads the selected model. With
        the tab's ``run`` button, it is made interactive or not (:func:`run_state`) then too, and after a download."""
        outputs = [self.button, self.line]
        demo.load(self.refresh, model, outputs, api_visibility="private", queue=False)
        model.change(self.refresh, model, outputs, api_visibility="private", queue=False)
        downloaded = self.button.click(self.download, model, [self.button, model, self.line],
                                       api_name=f"{self.task}_download", api_visibility="undocumented",
                                       concurrency_id="download", concurrency_limit=1)
        if run is None:
            return
        label = run.value

        def run_button(model_id: str) -> dict[str, Any]:
            return run_state(self.source, model_id, label)

        for event in (demo.load, model.change, downloaded.then):
            event(run_button, model, run, api_visibility="private", queue=False)
