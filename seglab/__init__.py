"""seglab: segmentation and dense prediction models behind one typed API.

    import seglab
    masks = seglab.predict("embedded-u2netp-grabcut", "photo.jpg", seglab.Prompt.build(box=[10, 20, 200, 220]))
"""
from .cache import LRUCache
from .errors import (InvalidImageError, InvalidPromptError, SeglabError, UnknownModelError,
                     UnsupportedTaskError, WeightsUnavailableError)
from .images import load_image
from .loading import clear_cache, download, is_available, load_model, predict
from .models.base import resolve_device
from .prepare import prepare
from .prompts import Prompt
from .registry import MODELS, TASKS, ModelSpec, Published, default_model, get_spec, list_models
from .results import DepthMap, Masks, PanopticMap, Segment, SemanticMap
from .threads import intra_op_threads, set_threads

__all__ = [
    "DepthMap", "InvalidImageError", "InvalidPromptError", "LRUCache", "MODELS", "Masks", "ModelSpec", "PanopticMap",
    "Prompt", "Published", "Segment", "SeglabError", "SemanticMap", "TASKS", "UnknownModelError",
    "UnsupportedTaskError", "WeightsUnavailableError", "clear_cache", "default_model", "download", "get_spec",
    "intra_op_threads", "is_available", "list_models", "load_image", "load_model", "predict", "resolve_device",
    "prepare", "set_threads",
]
