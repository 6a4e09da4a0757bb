"""Loading and validating input images: anything a user may hand us becomes H x W x 3 uint8 RGB."""
from __future__ import annotations

import hashlib
import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImageError

ImageInput = str | Path | bytes | Image.Image | np.ndarray

MIN_SIDE = 2
# above this many pixels an image is refused (before it is decoded): every model resizes far below it anyway;
# Pillow's decompression-bomb limit applies too where it is lower
MAX_PIXELS = 64_000_000


def load_image(source: ImageInput) -> np.ndarray:
    """Read a path, bytes, PIL image or array into an H x W x 3 uint8 RGB array.

    EXIF orientation is applied; palette, grey, 16-bit, CMYK and alpha images are
    converted (alpha composited on white). Raises :class:`InvalidImageError` with a
    sentence naming the problem for anything that is not a usable image.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, Image.Image):
        return _from_pil(source)
    data, name = _read_bytes(source)
    return _from_pil(_decode(data, name))


def _read_bytes(source: str | Path | bytes | bytearray) -> tuple[bytes, str]:
    """The encoded image and the name messages use for it."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InvalidImageError(f"no image file at {path}")
        data, name = path.read_bytes(), path.name
    elif isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), "the uploaded data"
    else:
        raise InvalidImageError(f"cannot read an image from a {type(source).__name__}")
    if not data:
        raise InvalidImageError(f"{name} is empty (0 bytes)")
    return data, name


def _decode(data: bytes, name: str) -> Image.Image:
    """Pillow's image of ``data``, its size checked from the header before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_size(img.width, img.height, name)
            img.load()
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as e:  # past twice Pillow's limit: Image.open refuses to read the header
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise InvalidImageError(_too_large(name, int(pixels.group(1)) if pixels else None)) from None
    except UnidentifiedImageError:
        raise InvalidImageError(f"{name} is not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InvalidImageError(f"{name} is corrupt or truncated: {e}") from None
    return img


def _from_pil(img: Image.Image) -> np.ndarray:
    _check_size(img.width, img.height)
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if a.max(initial=0) > 255 else 255.0
        return _from_array(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if img.mode == "F":
        return _from_array(np.asarray(img))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.array(img.convert("RGB"), dtype=np.uint8)


def _from_array(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InvalidImageError(f"an image array must be H x W, H x W x 3 or H x W x 4, got shape {a.shape}")
    _check_size(a.shape[1], a.shape[0])
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise InvalidImageError("the image array has NaN or infinite values")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[..., 3:].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def _check_size(width: int, height: int, name: str = "the image") -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise InvalidImageError(f"the image is {width}x{height} pixels; each side must be at least {MIN_SIDE}")
    if width * height > max_pixels():
        raise InvalidImageError(_too_large(name, width * height, f"{width}x{height} pixels, "))


def max_pixels() -> int:
    """The most pixels an image may have: :data:`MAX_PIXELS`, or Pillow's bomb limit where that is lower."""
    bomb = Image.MAX_IMAGE_PIXELS
    return min(MAX_PIXELS, bomb) if bomb else MAX_PIXELS


def _too_large(name: str, pixels: int | None, size: str = "") -> str:
    """The one message for every image over the limit, whether seglab or Pillow's bomb check found it."""
    megapixels = f"{pixels / 1e6:.1f} Mpx" if pixels else "too many pixels"
    return (f"{name} is too large ({size}{megapixels}); the limit is {max_pixels() / 1e6:.0f} Mpx, "
            "please downscale it")


def image_hash(image: np.ndarray) -> str:
    """Content hash of an image array (shape included): the key of every per-image cache."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()
