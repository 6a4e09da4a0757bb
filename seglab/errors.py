"""Errors with a one-line, user-facing message; the UI and CLI show ``str(err)``."""
from __future__ import annotations


class SeglabError(Exception):
    """Base class: anything seglab raises on purpose for bad input or setup."""


class InvalidImageError(SeglabError, ValueError):
    """The input could not be read as an image, or is out of the supported range."""


class InvalidPromptError(SeglabError, ValueError):
    """A prompt is missing, malformed, or lies outside the image."""


class UnknownModelError(SeglabError, KeyError):
    """The model id is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it plain
        return str(self.args[0]) if self.args else "unknown model"


class UnsupportedTaskError(SeglabError, ValueError):
    """The model does not do the requested task or prompt kind."""


class WeightsUnavailableError(SeglabError, OSError):
    """The weights are not cached locally and cannot be downloaded now."""
