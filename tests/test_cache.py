"""The embedding cache: LRU order, byte bound, one computation per key under concurrency."""
import threading
import time

import numpy as np
import pytest
import torch

from seglab.cache import LRUCache, nbytes, one


def test_nbytes_of_arrays_tensors_and_nests():
    a = np.zeros(10, np.float32)
    t = torch.zeros(5, dtype=torch.float64)
    assert nbytes(a) == 40 and nbytes(t) == 40 and nbytes({"x": (a, [t])}) == 80


def test_lru_eviction_by_bytes():
    c = LRUCache(max_size=100)
    c.put("a", np.zeros(40, np.uint8))
    c.put("b", np.zeros(40, np.uint8))
    assert c.get("a") is not None  # a is now most recent
    c.put("c", np.zeros(40, np.uint8))
    assert "b" not in c and "a" in c and "c" in c and c.total_size == 80
    c.put("huge", np.zeros(1000, np.uint8))
    assert "huge" not in c and len(c) == 2


def test_get_or_compute_counts_hits_and_misses():
    c = LRUCache(max_size=1000)
    calls = []
    f = lambda: calls.append(1) or np.ones(3)  # noqa: E731
    c.get_or_compute(("m", "img1"), f)
    c.get_or_compute(("m", "img1"), f)
    c.get_or_compute(("m", "img2"), f)
    assert len(calls) == 2 and c.hits == 1 and c.misses == 2


def test_concurrent_callers_compute_once():
    c = LRUCache(max_size=1000)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.05)
        return np.ones(4)

    threads = [threading.Thread(target=c.get_or_compute, args=("k", slow)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1


def test_size_function_bounds_the_entry_count():
    c = LRUCache(max_size=2, size=one)
    for key in "abc":
        c.get_or_compute(key, object)
    assert "a" not in c and len(c) == 2 and c.total_size == 2


def test_a_failed_computation_is_not_cached_and_can_be_retried():
    c = LRUCache(max_size=1000)

    def fail():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        c.get_or_compute("k", fail)
    assert "k" not in c and not c._key_locks
    assert c.get_or_compute("k", lambda: np.ones(2)).sum() == 2
