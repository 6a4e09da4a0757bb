"""One thread-safe LRU cache, bounded by a size function: per-image embeddings (bytes) and loaded models (count).

Keys are explicit (model id, image content hash, ...), so a changed image can never be served
another image's embedding, and many users cannot exhaust memory. Concurrent callers of one key
compute its value once (:meth:`LRUCache.get_or_compute`).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_MAX_BYTES = int(float(os.environ.get("SEGLAB_EMBEDDING_CACHE_MB", "1024")) * 2**20)


def nbytes(value: Any) -> int:
    """Bytes held by a tensor / array, or a (nested) tuple, list or dict of them."""
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if hasattr(value, "element_size") and hasattr(value, "numel"):  # torch.Tensor
        return int(value.element_size() * value.numel())
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    return 0


def one(_: Any) -> int:
    """Size function of a cache bounded by its number of entries."""
    return 1


class LRUCache:
    """Least-recently-used cache; evicts the oldest entries once their summed ``size(value)`` exceeds ``max_size``.

    ``size`` defaults to :func:`nbytes` (``max_size`` in bytes); :func:`one` bounds the entry count.
    An entry larger than ``max_size`` is computed and returned but not kept.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_BYTES, size: Callable[[Any], int] = nbytes) -> None:
        self.max_size = max_size
        self.size = size
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    @property
    def total_size(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: Hashable, value: Any) -> None:
        size = self.size(value)
        with self._lock:
            self._items.pop(key, None)
            if size > self.max_size:
                return
            self._items[key] = (value, size)
            total = sum(s for _, s in self._items.values())
            while total > self.max_size:
                _, (_, s) = self._items.popitem(last=False)
                total -= s

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value, or ``compute()`` once (concurrent callers of one key wait for it)."""
        value = self.get(key)
        if value is not None:
            self.hits += 1
            return value
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        try:
            with key_lock:
                value = self.get(key)
                if value is not None:
                    self.hits += 1
                    return value
                self.misses += 1
                value = compute()
                self.put(key, value)
        finally:
            with self._lock:
                self._key_locks.pop(key, None)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
