"""seglab: segmentation and dense prediction models behind one typed API.

    import seglab
    masks = seglab.predict("embedded-u2netp-grabcut", "photo.jpg", seglab.Prompt.build(box=[10, 20, 200, 220]))

The public API is this top level plus these submodules (``PUBLIC_MODULES``); the app, the CLI and the
benchmark use nothing else (a test checks it), and ``seglab.models`` / ``seglab.loading`` are internal:

- ``seglab.results``: the typed results (``Masks``, ``SemanticMap``, ``PanopticMap``, ``DepthMap``)
- ``seglab.images``, ``seglab.prompts``: input loading and validation
- ``seglab.registry``: the model table; ``seglab.protocols``: the test protocols its rows and published numbers
  name; ``seglab.checkpoints``: official SAM-family checkpoints
- ``seglab.render``, ``seglab.export``: drawing and file formats of results
- ``seglab.everything``: segment everything (automatic mask generation); ``seglab.levels``: whole / part / subpart
- ``seglab.interactive``: the click simulator of interactive evaluation
- ``seglab.metrics``: metrics (evaluators with reset / process / evaluate) and the clock
- ``seglab.formats``, ``seglab.datasets``: COCO / Cityscapes / Mapillary files and label sets
- ``seglab.report``, ``seglab.charts``: benchmark tables and plotly figures
- ``seglab.errors``: the exceptions every bad input raises
"""
from .cache import LRUCache
from .errors import (InvalidImageError, InvalidPromptError, SeglabError, UnknownModelError,
                     UnsupportedTaskError, WeightsUnavailableError)
from .images import load_image
from .loading import clear_cache, download, is_available, load_model, predict, require_weights
from .models.base import resolve_device
from .prepare import prepare
from .prompts import Prompt
from .protocols import PROTOCOLS, Protocol, get_protocol
from .registry import MODELS, TASKS, ModelSpec, Published, default_model, get_spec, list_models
from .results import DepthMap, Masks, PanopticMap, Segment, SemanticMap
from .threads import intra_op_threads, set_threads

PUBLIC_MODULES = ("results", "images", "prompts", "registry", "protocols", "checkpoints", "render", "export",
                  "everything", "levels", "interactive", "metrics", "formats", "datasets", "report", "charts", "errors")

__all__ = [
    "DepthMap", "InvalidImageError", "InvalidPromptError", "LRUCache", "MODELS", "Masks", "ModelSpec", "PROTOCOLS",
    "PUBLIC_MODULES", "PanopticMap", "Prompt", "Protocol", "Published", "SeglabError", "Segment", "SemanticMap",
    "TASKS", "UnknownModelError", "UnsupportedTaskError", "WeightsUnavailableError", "clear_cache", "default_model",
    "download", "get_protocol", "get_spec", "intra_op_threads", "is_available", "list_models", "load_image",
    "load_model", "predict", "prepare", "require_weights", "resolve_device", "set_threads",
]
