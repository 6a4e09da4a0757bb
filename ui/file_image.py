"""The image input of every tab, alone in its module: Gradio writes a type stub (``file_image.pyi``, git-ignored)
beside the module of each component class it sees defined, and this keeps that stub to this class."""
from __future__ import annotations

from typing import Any

import gradio as gr


class FileImage(gr.Image):
    """A gr.Image whose handler gets the uploaded file itself (a subclass, so the copies Gradio keeps per
    session do the same): Gradio neither decodes nor converts it. A template of gr.Image, as Gradio's own
    templates are, so the browser draws it as one."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        if payload is not None and payload.path is not None and not (payload.url or "").startswith("data:"):
            return payload.path
        return super().preprocess(payload)
