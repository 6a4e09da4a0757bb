"""Shared fixtures: the real data slices in ../shared/data (tests skip when absent), offline hub."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

DATA = Path(os.environ.get("SEGLAB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
COCO_ROOT = DATA / "coco-val2017-mini"
NYU_ROOT = DATA / "nyu-depth-v2-mini"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real test data not found at {path} (the ../shared/data slice beside the checkout)")
    return path


@pytest.fixture(scope="session")
def coco_root() -> Path:
    return _need(COCO_ROOT)


@pytest.fixture(scope="session")
def nyu_root() -> Path:
    return _need(NYU_ROOT)


@pytest.fixture(scope="session")
def coco_image_path(coco_root: Path) -> Path:
    """A real, non-square COCO val2017 image (640 x 427)."""
    return coco_root / "val2017" / "000000397133.jpg"


@pytest.fixture(scope="session")
def coco_image(coco_image_path: Path):
    from seglab import load_image

    return load_image(coco_image_path)
