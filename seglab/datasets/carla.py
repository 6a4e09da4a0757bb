"""CARLA (0.9.14 and later) camera recordings, as ``carla.Image.save_to_disk`` writes them (RGBA PNGs).

    ROOT/rgb/000123.png               sensor.camera.rgb: image.save_to_disk(path)
    ROOT/semantic/000123.png          sensor.camera.semantic_segmentation: save_to_disk(path, carla.ColorConverter.Raw),
                                      the tag in the red channel
      or ROOT/semantic_palette/...    the same frames saved with carla.ColorConverter.CityScapesPalette (colours)
    ROOT/depth/000123.png             sensor.camera.depth: save_to_disk(path, carla.ColorConverter.Raw), 24-bit depth
                                      in R, G, B (the lossy Depth / LogarithmicDepth greys are refused)

Files of one frame share a name (``'%06d.png' % image.frame``). Tags, colours and the depth formula are
CARLA's ``Docs/ref_sensors.md`` (carla-simulator/carla 007be862802e683bfe0fb2ed7ef7757a49991c85); the tags changed
from 0.9.13 to 0.9.14, and older recordings are not supported. Tags map to Cityscapes label names, so driving
models are scored on Cityscapes' 19 train ids.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from . import cityscapes
from .base import UNKNOWN, InvalidLabelError, SemanticSample
from .frames import DepthDataset, DepthSample, FrameDataset, pair_frames, recording_split

MAX_DEPTH = 80.0  # metres scored, as KITTI's Eigen split caps driving scenes (the sky is at the far plane, 1000 m)
NOTE = "CARLA 0.9.14+ semantic tags mapped to Cityscapes' 19 classes; frames at their recorded size"
DEPTH_NOTE = (f"CARLA depth camera (Raw, decoded to metres), capped at {MAX_DEPTH:g} m; relative models aligned "
              "per image")

# ref_sensors.md, "Semantic segmentation camera": (tag name, CityScapesPalette colour), by tag value
TAGS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("Unlabeled", (0, 0, 0)), ("Roads", (128, 64, 128)), ("SideWalks", (244, 35, 232)), ("Building", (70, 70, 70)),
    ("Wall", (102, 102, 156)), ("Fence", (190, 153, 153)), ("Pole", (153, 153, 153)),
    ("TrafficLight", (250, 170, 30)), ("TrafficSign", (220, 220, 0)), ("Vegetation", (107, 142, 35)),
    ("Terrain", (152, 251, 152)), ("Sky", (70, 130, 180)), ("Pedestrian", (220, 20, 60)), ("Rider", (255, 0, 0)),
    ("Car", (0, 0, 142)), ("Truck", (0, 0, 70)), ("Bus", (0, 60, 100)), ("Train", (0, 80, 100)),
    ("Motorcycle", (0, 0, 230)), ("Bicycle", (119, 11, 32)), ("Static", (110, 190, 160)),
    ("Dynamic", (170, 120, 50)), ("Other", (55, 90, 80)), ("Water", (45, 60, 150)), ("RoadLine", (157, 234, 50)),
    ("Ground", (81, 0, 81)), ("Bridge", (150, 100, 100)), ("RailTrack", (230, 150, 140)),
    ("GuardRail", (180, 165, 180)),
)
# CARLA tag -> Cityscapes label name (cityscapesscripts.helpers.labels); its trainId, or ignore, follows from there
CITYSCAPES_LABELS: dict[str, str | None] = {
    "Unlabeled": "unlabeled", "Roads": "road", "SideWalks": "sidewalk", "Building": "building", "Wall": "wall",
    "Fence": "fence", "Pole": "pole", "TrafficLight": "traffic light", "TrafficSign": "traffic sign",
    "Vegetation": "vegetation", "Terrain": "terrain", "Sky": "sky", "Pedestrian": "person", "Rider": "rider",
    "Car": "car", "Truck": "truck", "Bus": "bus", "Train": "train", "Motorcycle": "motorcycle",
    "Bicycle": "bicycle",
    "Static": "static", "Dynamic": "dynamic", "Ground": "ground",  # Cityscapes' void classes: ignored
    "Bridge": "bridge", "RailTrack": "rail track", "GuardRail": "guard rail",  # Cityscapes ignores them in eval
    "RoadLine": "road",  # Cityscapes' road includes the markings on it
    "Other": None, "Water": None,  # no Cityscapes class: ignored
}


def label_table(ignore_index: int = 255) -> tuple[tuple[str, ...], np.ndarray]:
    """(Cityscapes-19 class names, lookup table CARLA tag -> Cityscapes train id or ``ignore_index``)."""
    from cityscapesscripts.helpers.labels import name2label

    names, by_label_id = cityscapes.label_table(ignore_index)
    lut = np.full(256, UNKNOWN, np.int16)
    for tag, (name, _) in enumerate(TAGS):
        label = CITYSCAPES_LABELS[name]
        lut[tag] = ignore_index if label is None else by_label_id[name2label[label].id]
    return names, lut


def _rgb(path: Path, what: str) -> np.ndarray:
    """H x W x 3 uint8 of the RGB(A) PNG CARLA saved (alpha dropped)."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("RGB", "RGBA"):
                raise InvalidLabelError(f"{path.name} is a {img.mode} image; expected the RGBA PNG that "
                                        f"save_to_disk writes for the {what} camera")
            return np.asarray(img.convert("RGB"))
    except OSError as e:
        raise InvalidLabelError(f"cannot read the {what} frame {path}: {e}") from None


def _palette_lookup() -> tuple[np.ndarray, np.ndarray]:
    """(sorted packed 0xRRGGBB colours, their tags) of the CityScapesPalette."""
    packed = np.array([(r << 16) | (g << 8) | b for _, (r, g, b) in TAGS])
    order = np.argsort(packed)
    return packed[order], order.astype(np.uint8)


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _palette_tags(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tag of each pixel, whether its colour is in the palette at all)."""
    colours, tags = _palette_lookup()
    code = _pack(rgb)
    index = np.searchsorted(colours, code).clip(0, len(colours) - 1)
    return tags[index], colours[index] == code


def read_tags(path: Path) -> np.ndarray:
    """The H x W tags of a Raw semantic frame: the red channel (a CityScapesPalette save gets a hint where it goes)."""
    rgb = _rgb(path, "semantic segmentation")
    tags = rgb[..., 0]
    if tags.max() >= len(TAGS) and _palette_tags(rgb)[1].all():
        raise InvalidLabelError(f"{path.name} holds CityScapesPalette colours, not Raw tags: put the palette frames "
                                f"in semantic_palette/ instead of semantic/")
    return tags


def read_palette(path: Path) -> np.ndarray:
    """The H x W tags of a frame saved with ``carla.ColorConverter.CityScapesPalette`` (colour -> tag)."""
    rgb = _rgb(path, "semantic segmentation")
    tags, known = _palette_tags(rgb)
    if not known.all():
        bad = np.unique(_pack(rgb)[~known])[:3]
        raise InvalidLabelError(f"{path.name} has colour(s) {[f'#{int(c):06x}' for c in bad]} that are not in "
                                f"CARLA's 0.9.14+ CityScapesPalette (Raw frames go in semantic/)")
    return tags


def read_depth(path: Path) -> np.ndarray:
    """H x W float32 metres of a Raw depth frame: ``1000 * (R + G*256 + B*256*256) / (256**3 - 1)``."""
    rgb = _rgb(path, "depth").astype(np.float64)
    if rgb.size and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        raise InvalidLabelError(f"{path.name} is grey: it was saved with ColorConverter.Depth or LogarithmicDepth, "
                                f"which lose precision; save depth frames with carla.ColorConverter.Raw")
    normalized = (rgb[..., 0] + rgb[..., 1] * 256 + rgb[..., 2] * 256 * 256) / (256 ** 3 - 1)
    return (1000 * normalized).astype(np.float32)


def load(root: str | Path, split: str = "all") -> FrameDataset:
    """The semantic frames under ``root``: ``semantic/`` (Raw tags) or else ``semantic_palette/`` (colours)."""
    root, split = Path(root), recording_split(split, "CARLA")
    folder, reader = ("semantic_palette", read_palette) if (root / "semantic_palette").is_dir() and not (
        root / "semantic").is_dir() else ("semantic", read_tags)
    pairs = pair_frames(root, folder, ".png", "the semantic camera's frames saved with carla.ColorConverter.Raw "
                        "(or semantic_palette/ with CityScapesPalette)")
    names, lut = label_table()
    return FrameDataset("carla", root, split, tuple(SemanticSample(*p) for p in pairs), names, lut,
                        label_set=cityscapes.LABEL_SET, note=NOTE, read_raw=reader)


def load_depth(root: str | Path, split: str = "all") -> DepthDataset:
    """The depth pairs under ``root`` (``rgb/`` + ``depth/``, Raw depth PNGs)."""
    root, split = Path(root), recording_split(split, "CARLA")
    pairs = pair_frames(root, "depth", ".png", "the depth camera's frames saved with carla.ColorConverter.Raw")
    return DepthDataset("carla", root, split, tuple(DepthSample(*p) for p in pairs), read_depth, MAX_DEPTH,
                        DEPTH_NOTE)
