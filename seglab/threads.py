"""How many CPU threads one model call may use: one setting for torch, onnxruntime and OpenCV.

A server running ``k`` model calls at once sets ``cores // k`` threads a call, so that ``k x threads``
never exceeds the cores (oversubscribed threads make every call slower, not more of them faster).
"""
from __future__ import annotations

import os
import sys

_threads = 0  # 0: not set, each library's own default


def set_threads(n: int) -> None:
    """Use ``n`` intra-op threads a model call from now on: torch and OpenCV at once, onnxruntime in the
    sessions created after this call (set it before loading models). Torch, when not imported yet, reads it
    from ``OMP_NUM_THREADS`` as it starts."""
    global _threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"threads must be a whole number >= 1, not {n!r}")
    _threads = n
    import cv2

    cv2.setNumThreads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(n)


def intra_op_threads() -> int:
    """The threads a model call may use; 0 when not set (onnxruntime's ``intra_op_num_threads`` reads it so)."""
    return _threads
