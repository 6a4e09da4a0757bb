"""Image outputs written to Gradio's cache once, whole, so that users shown the same picture at once each get it.

Gradio (6.31) stores an image output at a path named by the hash of its encoded bytes and rewrites that file in
place on every call (``gradio.processing_utils.save_pil_to_cache``). When two sessions show the same picture at
the same time (an example image just loaded, the same model's result on it), one rewrite truncates the file while
the other session's browser is fetching it: that user gets a broken image, or ``gradio_client`` a
``RemoteProtocolError``. Gradio's own ``save_file_to_cache`` already avoids this for files; :func:`install` makes
image outputs do the same: the file is written under a temporary name and renamed into place, and a picture whose
file is already there is not written again.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gradio import processing_utils
from PIL import Image


def save_pil_to_cache(img: Image.Image, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """``gradio.processing_utils.save_pil_to_cache`` (same arguments, same path), written atomically and once."""
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    if path.exists():  # the same bytes, by its name: touched, as Gradio's delete_cache ages files by their ctime
        os.utime(path)
        return str(path)
    fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return str(path)


def install() -> None:
    """Route every Gradio image output (Image, ImageEditor, AnnotatedImage, Gallery) through
    :func:`save_pil_to_cache`; they all call it through ``gradio.processing_utils``."""
    processing_utils.save_pil_to_cache = save_pil_to_cache
