"""seglab.set_threads: one setting for the threads of a model call, read by torch, OpenCV and the onnxruntime
session of the offline model."""
from __future__ import annotations

import cv2
import pytest
import torch

import seglab
from seglab.models.embedded import EmbeddedSegmenter


@pytest.fixture
def restored():
    before = torch.get_num_threads(), cv2.getNumThreads()
    yield
    seglab.set_threads(before[0])
    cv2.setNumThreads(before[1])


@pytest.mark.parametrize("n", [1, 2])
def test_threads_reach_torch_and_opencv_at_once(restored, n):
    seglab.set_threads(n)
    assert seglab.intra_op_threads() == torch.get_num_threads() == cv2.getNumThreads() == n


def test_onnxruntime_sessions_created_afterwards_use_them(restored):
    seglab.set_threads(1)
    model = EmbeddedSegmenter.load(seglab.get_spec("embedded-u2netp-grabcut"))
    assert model._session.get_session_options().intra_op_num_threads == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_a_thread_count_below_one_or_not_whole_is_refused(bad):
    with pytest.raises(ValueError, match="threads must be a whole number >= 1"):
        seglab.set_threads(bad)
