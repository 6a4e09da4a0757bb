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
from PIL import Image

import seglab
from seglab.export import write_result

log = logging.getLogger("seglab.app")

GENERIC_ERROR = "Something went wrong inside the model; the details were logged. Try another image or model."
# how many runs of one task may use the device at once (the queue holds the rest)
CONCURRENCY = int(os.environ.get("SEGLAB_APP_CONCURRENCY", "1"))
# how many runs of one model may use it at once, across tasks and tabs (Compare included)
MODEL_CONCURRENCY = int(os.environ.get("SEGLAB_MODEL_CONCURRENCY", "1"))
DOWNLOADS_TTL_S = 3600

try:  # ZeroGPU on Hugging Face Spaces: borrow a GPU for the duration of the call
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn: Callable) -> Callable:
        """No-op outside ZeroGPU."""
        return fn


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
        for a task without one, the first model whose weights are here, else the registry's default."""
        here = [s for s in seglab.list_models(task) if self.available(s.id)]
        downloaded = [s.id for s in here if not s.offline]
        if downloaded and not is_offline_mode():
            return downloaded[0]
        return next((s.id for s in here if s.offline), downloaded[0] if downloaded else seglab.default_model(task).id)

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


@contextmanager
def model_slot(model_id: str) -> Iterator[None]:
    """Hold one of the :data:`MODEL_CONCURRENCY` slots of a model while it runs, so one model (and its
    device) is never oversubscribed, whichever tabs call it."""
    with _slots_lock:
        slot = _slots.setdefault(model_id, threading.BoundedSemaphore(MODEL_CONCURRENCY))
    with slot:
        yield


def image_input(**options: Any) -> gr.Image:
    """A gr.Image whose unreadable uploads (corrupt, not an image, decompression bomb) give a clear gr.Error
    instead of a failure inside Gradio's preprocessing. (Wrapping the instance, not subclassing: Gradio
    writes a .pyi stub beside every module that defines a component class.)"""
    image = gr.Image(**options)
    decode = image.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return decode(payload)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            name = getattr(payload, "orig_name", None) or "the uploaded file"
            reason = "is too large to decode safely" if isinstance(e, Image.DecompressionBombError) \
                else "is not an image file that can be read"
            raise gr.Error(f"{name} {reason}", print_exception=False) from None

    image.preprocess = preprocess
    return image


def user_errors(fn: Callable) -> Callable:
    """Turn seglab's errors into a gr.Error with their sentence; log anything else and show a short one."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except seglab.SeglabError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(GENERIC_ERROR, print_exception=False) from None

    return wrapper


def warn_if_missing(source: ModelSource, model_id: str) -> None:
    """When the chosen model's weights are not here: offline, a warning with the download command;
    with the Hub reachable, a note that the first run downloads them."""
    if not model_id or source.available(model_id):
        return
    spec = seglab.get_spec(model_id)
    if is_offline_mode():
        gr.Warning(f"{spec.id}: weights for {spec.weights!r} are not downloaded and the Hub is offline. On a "
                   f"machine with internet run `python -m seglab download {spec.id}`.")
    else:
        gr.Info(f"{spec.id}: the first run downloads its weights ({spec.weights}); later runs use the cache.")


def read_image(source: Any) -> np.ndarray:
    """The uploaded image as H x W x 3 uint8, or an InvalidImageError with a clear sentence."""
    if source is None:
        raise seglab.InvalidImageError("no image: upload one or pick an example first")
    return seglab.load_image(source)


def downloads(result: Any, image: np.ndarray, stem: str) -> list[str]:
    """Every export format of ``result``, written into a fresh folder of this request."""
    return [str(p) for p in write_result(result, request_dir(), image=image, stem=stem)]


def request_dir() -> Path:
    """A new folder for one request's files; folders older than an hour are removed on the way."""
    base = Path(tempfile.gettempdir()) / "seglab-app"
    base.mkdir(exist_ok=True)
    now = time.time()
    for old in base.iterdir():
        try:
            if now - old.stat().st_mtime > DOWNLOADS_TTL_S:
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:  # another request removed it first
            pass
    folder = base / uuid.uuid4().hex
    folder.mkdir()
    return folder


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
    try:
        return seglab.Prompt.build(points=data.get("points"), labels=data.get("labels"), boxes=data.get("boxes"),
                                   box=data.get("box"), region=region, text=phrase)
    except (ValueError, TypeError) as e:
        raise seglab.InvalidPromptError(f"the prompt's coordinates are malformed: {e}") from None


def prompt_json(prompt: seglab.Prompt) -> str:
    """The JSON form of a prompt's points and boxes (the inverse of :func:`parse_prompt`)."""
    data: dict[str, Any] = {}
    if prompt.points is not None:
        data["points"] = [[round(float(x), 1), round(float(y), 1)] for x, y in prompt.points]
        data["labels"] = [int(v) for v in prompt.point_labels]
    if prompt.boxes is not None:
        data["boxes"] = [[round(float(v), 1) for v in b] for b in prompt.boxes]
    return json.dumps(data) if data else ""


def timing(model_id: str, load_s: float, predict_s: float, extra: str = "") -> str:
    load = f"load {load_s:.2f} s · " if load_s >= 0.005 else ""
    return f"**{model_id}** · {load}predict {predict_s * 1000:.0f} ms{' · ' + extra if extra else ''}"
