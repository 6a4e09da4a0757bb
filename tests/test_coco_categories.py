"""The shipped COCO panoptic category table equals the official one in the real annotation files."""
from __future__ import annotations

import json

from seglab.coco_categories import COCO_PANOPTIC_CATEGORIES, COCO_THING_CATEGORIES


def test_panoptic_table_matches_the_official_json(coco_root):
    official = json.loads((coco_root / "annotations" / "panoptic_val2017.json").read_text())["categories"]
    assert [(c["id"], c["name"], bool(c["isthing"])) for c in official] == list(COCO_PANOPTIC_CATEGORIES)


def test_things_are_the_instance_categories(coco_root):
    official = json.loads((coco_root / "annotations" / "instances_val2017.json").read_text())["categories"]
    assert [(c["id"], c["name"]) for c in official] == [(c.id, c.name) for c in COCO_THING_CATEGORIES]
    assert COCO_PANOPTIC_CATEGORIES[:80] == COCO_THING_CATEGORIES  # contiguous ids 0..79 are the things
