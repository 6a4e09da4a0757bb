"""Shared pieces of the app's tabs: model lists, timed loading and prediction, user-facing errors,
per-request download folders, prompt JSON, and the ZeroGPU decorator.

Everything here calls seglab's public API only; no model code lives in the app.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from huggingface_hub import is_offline_mode

import seglab
from seglab.export import write_result

from .file_image import FileImage

log = logging.getLogger("seglab.app")

GENERIC_ERROR = "Something went wrong inside the model; the details were logged. Try another image or model."
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
# model runs at once, every tab and model together (the queue holds the rest); each run gets
# CORES // SLOTS threads (seglab.set_threads), so that slots x threads never exceeds the cores
SLOTS = max(1, int(os.environ.get("SEGLAB_APP_SLOTS", str(min(2, CORES)))))
# how many runs of one task, and of one model across tasks and tabs (Compare included), may take slots at once
CONCURRENCY = int(os.environ.get("SEGLAB_APP_CONCURRENCY", str(SLOTS)))
MODEL_CONCURRENCY = int(os.environ.get("SEGLAB_MODEL_CONCURRENCY", str(SLOTS)))
DOWNLOADS_TTL_S = 3600
# the app's own download files, all users together, stay under this many bytes (oldest removed first)
DOWNLOADS_MAX_BYTES = int(float(os.environ.get("SEGLAB_APP_DOWNLOADS_MB", "256")) * 2**20)

try:  # ZeroGPU on Hugging Face Spaces: borrow a GPU for the duration of the call
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn: Callable) -> Callable:
        """No-op outside ZeroGPU."""
        return fn


# image encoders from the smallest to the largest (parameters), to start each tab on the lightest model
BACKBONES = ("U2-Net-p", "MobileNetV3-L", "MiT-B0", "ViT-S", "Swin-T", "Hiera-T", "MiT-B1", "Hiera-S", "ResNet-50",
             "Swin-S", "MiT-B2", "ResNet-101", "Hiera-B+", "ViT-B", "Swin-B", "MiT-B3", "MiT-B4", "MiT-B5", "Hiera-L",
             "ViT-L", "Swin-L", "ViT-H")


def lightest(task: str) -> str:
    """The task's model with the smallest image encoder (the registry's order breaks ties)."""
    rank = {b: i for i, b in enumerate(BACKBONES)}
    return min(seglab.list_models(task), key=lambda s: rank.get(s.backbone, len(rank))).id


@dataclass(frozen=True)
class ModelSource:
    """Where the app takes weights from: ``weights_dir/<model-id>/`` when that folder exists
    (weights saved with ``save_pretrained``), else the normal Hub / torchvision cache."""

    weights_dir: Path | None = None

    @classmethod
    def from_env(cls) -> ModelSource:
        path = os.environ.get("SEGLAB_WEIGHTS_DIR")
        return cls(Path(path) if path else None)

    def location(self, model_id: str) -> Path | None:
        if self.weights_dir is None:
            return None
        folder = self.weights_dir / model_id
        return folder if folder.exists() else None

    def available(self, model_id: str) -> bool:
        if self.location(model_id) is not None:
            return True
        try:
            return seglab.is_available(model_id)
        except Exception:  # an adapter module missing or broken must not break the model list
            log.exception("availability check failed for %s", model_id)
            return False

    def choices(self, task: str | tuple[str, ...]) -> list[tuple[str, str]]:
        """(label, id) dropdown choices from the registry; models needing a download are marked."""
        tasks = (task,) if isinstance(task, str) else task
        out = []
        for t in tasks:
            for spec in seglab.list_models(t):
                mark = "" if self.available(spec.id) else "  (download needed)"
                out.append((f"{spec.id}{mark}", spec.id))
        return out

    def preselect(self, task: str) -> str:
        """The model a dropdown starts on. With the Hub reachable, the first listed one whose weights are
        downloaded; offline (HF_HUB_OFFLINE=1) or with nothing downloaded, the embedded offline default;
        for a task without one, the first model whose weights are here, else the lightest to download."""
        here = [s for s in seglab.list_models(task) if self.available(s.id)]
        downloaded = [s.id for s in here if not s.offline]
        if downloaded and not is_offline_mode():
            return downloaded[0]
        return next((s.id for s in here if s.offline), downloaded[0] if downloaded else lightest(task))

    def load(self, model_id: str) -> tuple[Any, float]:
        """The loaded adapter and the seconds loading took (near zero once it is cached)."""
        if not model_id:
            raise seglab.UnknownModelError("choose a model first")
        start = time.perf_counter()
        adapter = seglab.load_model(model_id, location=self.location(model_id))
        return adapter, time.perf_counter() - start

    def run(self, model_id: str, image: np.ndarray, prompt: seglab.Prompt | None = None,
            **options: Any) -> tuple[Any, float, float]:
        """(result, load seconds, predict seconds) through :func:`seglab.predict`."""
        adapter, load_s = self.load(model_id)
        with model_slot(model_id):
            start = time.perf_counter()
            result = seglab.predict(adapter, image, prompt, **options)
            return result, load_s, time.perf_counter() - start


_slots: dict[str, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()
_any_slot = threading.BoundedSemaphore(SLOTS)


def threads_per_slot() -> int:
    """Threads one model run may use: the cores shared by the :data:`SLOTS` runs that may go at once."""
    return max(1, CORES // SLOTS)


@contextmanager
def model_slot(model_id: str) -> Iterator[None]:
    """Hold one of the model's :data:`MODEL_CONCURRENCY` slots and one of the app's :data:`SLOTS` while it
    runs, so neither one model (and its device) nor the cores are oversubscribed, whichever tabs call it."""
    with _slots_lock:
        slot = _slots.setdefault(model_id, threading.BoundedSemaphore(MODEL_CONCURRENCY))
    with slot, _any_slot:
        yield


def reveal_canvas(*events: Any) -> None:
    """After each of ``events`` the browser scrolls the Segment canvas into view when it is off screen: after a
    button far down the input column, or on a phone, where the canvas is above the controls (``ui/app.css``)."""
    for event in events:
        event.then(None, js="() => document.getElementById('segment-canvas')?.scrollIntoView({block: 'nearest'})")


def image_input(**options: Any) -> gr.Image:
    """A gr.Image that hands the handler the uploaded file itself (``type="filepath"``, ``image_mode=None``):
    Gradio neither decodes nor converts it, so the app reads every image exactly as ``seglab.load_image``
    does (16-bit, CMYK, alpha, EXIF rotation), and an unreadable or too large file gets seglab's sentence,
    named by the user's file name (Gradio keeps it), from the handler."""
    return FileImage(**{**options, "type": "filepath", "image_mode": None})


def from_api() -> bool:
    """Whether the running event came from gradio_client or MCP (their ``x-gradio-user`` header), not a browser."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    headers = getattr(request, "headers", None) or {}
    return headers.get("x-gradio-user") in ("api", "mcp")


def user_errors(fn: Callable | None = None, *, keep: int = 0) -> Callable:
    """Turn seglab's errors into their sentence; log anything else and show a short one.

    With ``keep`` (the handler's number of outputs, the status line last) a browser keeps its work: every
    output stays as it was (``gr.skip()``), the sentence goes to a warning toast and the status line. API
    callers, and handlers without ``keep``, get a gr.Error."""
    if fn is None:
        return functools.partial(user_errors, keep=keep)

    def fail(message: str) -> tuple:
        if not keep or from_api():
            raise gr.Error(message, print_exception=False)
        gr.Warning(message)
        return (*(gr.skip() for _ in range(keep - 1)), f"⚠️ {message}")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error as e:
            return fail(e.message)
        except seglab.SeglabError as e:
            return fail(str(e))
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            return fail(GENERIC_ERROR)

    return wrapper


def require_task(source: ModelSource, model_id: str, task: str) -> None:
    """An UnsupportedTaskError naming the models of ``task`` (those that can run here first) when ``model_id``
    is a model of another task."""
    spec = seglab.get_spec(model_id)
    if spec.task == task:
        return
    ids = [s.id for s in seglab.list_models(task)]
    here = [m for m in ids if source.available(m)]
    listed = f"{task} models here: {', '.join(here)}" if here else f"no {task} model is downloaded here"
    raise seglab.UnsupportedTaskError(f"{spec.id} is a {spec.task} model, not {task}; {listed} "
                                      f"(all {len(ids)}: `python -m seglab models --task {task}`)")


def warn_if_missing(source: ModelSource, model_id: str) -> None:
    """When the chosen model's weights are not here: offline, a warning with the download command;
    with the Hub reachable, a note that the first run downloads them; an unknown model id, a warning naming
    close matches."""
    if not model_id or source.available(model_id):
        return
    try:
        spec = seglab.get_spec(model_id)
    except seglab.UnknownModelError as e:  # a name typed into the model box: say so, as a run would
        gr.Warning(str(e))
        return
    if is_offline_mode():
        gr.Warning(f"{spec.id}: weights for {spec.weights!r} are not downloaded and the Hub is offline. On a "
                   f"machine with internet run `python -m seglab download {spec.id}`.")
    else:
        gr.Info(f"{spec.id}: the first run downloads its weights ({spec.weights}); later runs use the cache.")


def read_image(source: Any) -> np.ndarray:
    """The uploaded file read by ``seglab.load_image`` (H x W x 3 uint8), or an InvalidImageError with a clear
    sentence naming the user's file."""
    if source is None:
        raise seglab.InvalidImageError("no image: upload one or pick an example first")
    return seglab.load_image(source)


def downloads(result: Any, image: np.ndarray, stem: str) -> list[str]:
    """Every export format of ``result``, written into a fresh folder of this request."""
    return [str(p) for p in write_result(result, request_dir(), image=image, stem=stem)]


def request_dir() -> Path:
    """A new folder for one request's files, in a folder kept under :data:`DOWNLOADS_MAX_BYTES`:
    folders older than an hour go first, then the oldest until the rest fit."""
    base = Path(tempfile.gettempdir()) / "seglab-app"
    base.mkdir(exist_ok=True)
    prune(base, DOWNLOADS_MAX_BYTES, DOWNLOADS_TTL_S)
    folder = base / uuid.uuid4().hex
    folder.mkdir()
    return folder


def prune(base: Path, max_bytes: int, ttl_s: float) -> None:
    """Remove the sub-folders of ``base`` older than ``ttl_s``, then the oldest until the rest hold ``max_bytes``."""
    folders = []
    for folder in base.iterdir():
        try:
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            folders.append((folder.stat().st_mtime, size, folder))
        except FileNotFoundError:  # another request removed it first
            continue
    kept, now = 0, time.time()
    for mtime, size, folder in sorted(folders, reverse=True):  # newest first
        if now - mtime > ttl_s or kept + size > max_bytes:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            kept += size


def parse_prompt(text: str | None, prompt_text: str | None = None,
                 region: np.ndarray | None = None) -> seglab.Prompt:
    """A Prompt from the JSON form ``{"points": [[x, y]], "labels": [1], "boxes": [[x0, y0, x1, y1]]}``
    (image pixels), plus a text phrase and a brushed region."""
    data: dict[str, Any] = {}
    if text and text.strip():
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise seglab.InvalidPromptError(f"the prompt is not valid JSON ({e.msg} at character {e.pos})") from None
        if not isinstance(data, dict):
            raise seglab.InvalidPromptError('the prompt must be a JSON object such as {"points": [[120, 80]]}')
        unknown = set(data) - {"points", "labels", "boxes", "box", "text"}
        if unknown:
            raise seglab.InvalidPromptError(f"unknown prompt keys {sorted(unknown)}; use points, labels, boxes, text")
    phrase = (prompt_text or "").strip() or data.get("text") or None
    if phrase is not None and not isinstance(phrase, str):
        raise seglab.InvalidPromptError(f'the prompt\'s "text" must be a string such as "cat", not {phrase!r}')
    return seglab.Prompt.build(points=data.get("points"), labels=data.get("labels"), boxes=data.get("boxes"),
                               box=data.get("box"), region=region, text=phrase)


def prompt_json(prompt: seglab.Prompt) -> str:
    """The JSON form of a prompt's points and boxes (the inverse of :func:`parse_prompt`)."""
    data: dict[str, Any] = {}
    if prompt.points is not None:
        data["points"] = [[round(float(x), 1), round(float(y), 1)] for x, y in prompt.points]
        data["labels"] = [int(v) for v in prompt.point_labels]
    if prompt.boxes is not None:
        data["boxes"] = [[round(float(v), 1) for v in b] for b in prompt.boxes]
    return json.dumps(data) if data else ""


def protocol_line(model_id: str) -> str:
    """What the model runs, said in the status line: "test protocol mask2former-coco-panoptic (short side 800...)"."""
    spec = seglab.get_spec(model_id)
    return f"test protocol {spec.protocol} ({seglab.get_protocol(spec.protocol).describe()})" if spec.protocol else ""


def timing(model_id: str, load_s: float, predict_s: float, extra: str = "") -> str:
    load = f"load {load_s:.2f} s · " if load_s >= 0.005 else ""
    return f"**{model_id}** · {load}predict {predict_s * 1000:.0f} ms{' · ' + extra if extra else ''}"
