"""CARLA recordings written as ``carla.Image.save_to_disk`` writes them: the decoding of depth and tags against
CARLA's documented formulas and table (``tests/data/carla_semantic_tags.md``), the layout errors, and the benchmark."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmarks.download_data import check, instructions
from seglab import SeglabError
from seglab.datasets import (
    DatasetLayoutError,
    InvalidLabelError,
    get_label_set,
    load_depth_dataset,
    load_semantic_dataset,
)
from seglab.datasets.base import UNKNOWN
from seglab.datasets.carla import MAX_DEPTH, TAGS, label_table, read_depth, read_palette, read_tags

TABLE = Path(__file__).parent / "data" / "carla_semantic_tags.md"
RNG = np.random.default_rng(0)
H, W = 24, 32


def _official_tags() -> list[tuple[int, str, tuple[int, ...]]]:
    """(value, tag, converted colour) rows of ref_sensors.md's semantic segmentation table."""
    rows = []
    for line in TABLE.read_text().splitlines()[1:]:
        value, tag, colour = (cell.strip().strip("`") for cell in line.strip().strip("|").split("|"))
        rows.append((int(value), tag, tuple(int(c) for c in colour.strip("()").split(","))))
    return rows


def _save_to_disk(path: Path, r: np.ndarray, g: np.ndarray, b: np.ndarray) -> None:
    """What ``save_to_disk`` writes for a ``carla.Image`` whose ``raw_data`` holds these BGRA pixels: an RGBA PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bgra = np.stack([b, g, r, np.full_like(r, 255)], axis=-1).astype(np.uint8)
    assert cv2.imwrite(str(path), bgra)


def _depth_bytes(metres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The depth camera's R, G, B (least significant first) for ``metres``, inverting ref_sensors.md's formula."""
    code = np.round(metres / 1000 * (256 ** 3 - 1)).astype(np.int64)
    return code % 256, code // 256 % 256, code // 65536


def _record(root: Path, frames: tuple[int, ...] = (120, 121), palette: bool = False) -> dict[str, tuple]:
    """A recording under ``root``; frame name -> (tags, metres) written."""
    colours = {value: colour for value, _, colour in _official_tags()}
    written = {}
    for frame in frames:
        name = f"{frame:06d}.png"
        _save_to_disk(root / "rgb" / name, *RNG.integers(0, 256, (3, H, W)))
        tags = RNG.integers(0, len(colours), (H, W))
        if palette:  # ColorConverter.CityScapesPalette: each tag's converted colour
            rgb = np.array([colours[t] for t in tags.reshape(-1)]).reshape(H, W, 3)
            _save_to_disk(root / "semantic_palette" / name, *rgb.transpose(2, 0, 1))
        else:  # Raw: the tag in the red channel
            _save_to_disk(root / "semantic" / name, tags, np.zeros_like(tags), np.zeros_like(tags))
        metres = RNG.uniform(0.5, 150.0, (H, W))
        _save_to_disk(root / "depth" / name, *_depth_bytes(metres))
        written[name] = (tags, metres)
    return written


def test_tag_table_is_carlas_official_one() -> None:
    assert [(value, name, colour) for value, (name, colour) in enumerate(TAGS)] == _official_tags()


def test_tags_map_to_the_cityscapes_class_of_the_same_colour() -> None:
    """CARLA 0.9.14+ gives Cityscapes' classes Cityscapes' colours; everything else is ignored, but road lines."""
    from cityscapesscripts.helpers.labels import labels

    train_colour = {label.color: label.trainId for label in labels if 0 <= label.trainId < 19}
    names, lut = label_table()
    assert names == get_label_set("cityscapes-19").names
    for value, tag, colour in _official_tags():
        expected = train_colour[(128, 64, 128)] if tag == "RoadLine" else train_colour.get(colour, 255)
        assert lut[value] == expected, tag
    assert (lut[len(TAGS):] == UNKNOWN).all()


def test_depth_decodes_as_carlas_docs(tmp_path: Path) -> None:
    rgb = np.array([[0, 0, 0], [255, 255, 255], [1, 0, 0], [0, 1, 0], [0, 0, 1], [10, 20, 30]])
    _save_to_disk(tmp_path / "known.png", *rgb.T[:, None, :])
    expected = [1000 * (r + g * 256 + b * 256 * 256) / (256 * 256 * 256 - 1) for r, g, b in rgb]
    np.testing.assert_allclose(read_depth(tmp_path / "known.png")[0], expected, rtol=1e-6)
    assert expected[1] == 1000 and expected[2] == pytest.approx(5.96e-5, rel=1e-3)

    (name, (_, metres)), *_ = _record(tmp_path / "rec").items()
    np.testing.assert_allclose(read_depth(tmp_path / "rec" / "depth" / name), metres, atol=1000 / (256 ** 3 - 1))


def test_raw_and_palette_frames_give_the_same_train_ids(tmp_path: Path) -> None:
    _, lut = label_table()
    for palette in (False, True):
        root = tmp_path / str(palette)
        written = _record(root, palette=palette)
        ds = load_semantic_dataset("carla", root)
        assert (ds.benchmark_name, ds.label_set, len(ds)) == ("carla-all", "cityscapes-19", 2)
        for sample in ds:
            tags = written[sample.label_path.name][0]
            np.testing.assert_array_equal((read_palette if palette else read_tags)(sample.label_path), tags)
            np.testing.assert_array_equal(ds.load_label(sample), lut[tags])


def test_semantic_frames_in_the_wrong_format_are_named(tmp_path: Path) -> None:
    _record(tmp_path / "palette", palette=True)
    (tmp_path / "palette" / "semantic_palette").rename(tmp_path / "palette" / "semantic")
    ds = load_semantic_dataset("carla", tmp_path / "palette")
    with pytest.raises(InvalidLabelError, match="CityScapesPalette colours, not Raw tags: put the palette frames in "
                                                "semantic_palette/"):
        ds.load_label(ds.samples[0])
    frame = tmp_path / "palette" / "semantic" / "000120.png"
    _save_to_disk(frame, *np.full((3, H, W), 7))
    with pytest.raises(InvalidLabelError, match=r"colour\(s\) \['#070707'\] that are not in CARLA's 0\.9\.14\+ "
                                                r"CityScapesPalette"):
        read_palette(frame)
    _save_to_disk(frame, np.full((H, W), 29), np.zeros((H, W)), np.zeros((H, W)))
    with pytest.raises(InvalidLabelError, match=r"label id\(s\) \[29\] that carla does not define"):
        ds.load_label(ds.samples[0])
    Image.fromarray(np.zeros((H, W), np.uint8)).save(frame)
    with pytest.raises(InvalidLabelError, match="is a L image; expected the RGBA PNG that save_to_disk writes"):
        ds.load_label(ds.samples[0])
    _save_to_disk(frame, *np.zeros((3, H, W + 1)))
    with pytest.raises(InvalidLabelError, match=f"000120.png is {W + 1}x{H} but its image 000120.png is {W}x{H}"):
        ds.load_label(ds.samples[0])


def test_wrong_layouts_say_what_is_missing(tmp_path: Path) -> None:
    _record(tmp_path)
    grey = tmp_path / "depth" / "000121.png"
    _save_to_disk(grey, *np.full((3, H, W), 90))  # what ColorConverter.Depth writes
    pairs = load_depth_dataset("carla", tmp_path)
    assert (pairs.benchmark_name, pairs.max_depth, len(pairs)) == ("carla-all", MAX_DEPTH, 2)
    with pytest.raises(InvalidLabelError, match="saved with ColorConverter.Depth or LogarithmicDepth"):
        pairs.load_depth(pairs.samples[1])
    grey.unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing file .*depth/000121\.png: expected the depth frame of "
                                                 r"rgb/000121\.png"):
        load_depth_dataset("carla", tmp_path)
    with pytest.raises(DatasetLayoutError, match="one split, 'all'"):
        load_semantic_dataset("carla", tmp_path, split="val")
    with pytest.raises(SeglabError, match="unknown data set 'gta5'; choose one of carla, habitat"):
        load_depth_dataset("gta5", tmp_path)
    for folder, message in (("semantic", "saved with carla.ColorConverter.Raw"), ("rgb", "colour camera's frames")):
        (tmp_path / folder).rename(tmp_path / f"{folder}.moved")
        with pytest.raises(DatasetLayoutError, match=f"missing folder .*{folder}: expected .*{message}"):
            load_semantic_dataset("carla", tmp_path)


def test_download_data_says_how_to_record_and_checks(tmp_path: Path) -> None:
    text = instructions("carla")
    assert "record it with the simulator" in text and "carla.ColorConverter.Raw" in text
    assert "sensor.camera.semantic_segmentation" in text and "--task semantic|depth --dataset carla" in text
    _record(tmp_path)
    ok, lines = check("carla", tmp_path)
    assert ok and lines[:3] == ["  [ok] rgb", "  [ok] semantic", "  [ok] depth"]
    assert "usable for semantic: 2 all images, 19 classes" in lines[3] and "usable for depth: 2 frames" in lines[4]


def _tiny_cityscapes_segformer(folder: Path) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    names = get_label_set("cityscapes-19").names
    model = tf.SegformerForSemanticSegmentation(tf.SegformerConfig(
        hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1], decoder_hidden_size=16,
        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}))
    model.eval().save_pretrained(folder)
    tf.SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_benchmark_scores_a_driving_model_and_a_depth_model_on_carla(tmp_path: Path) -> None:
    from app_weights import save_tiny_models

    from benchmarks.run import main as run_main
    from seglab.formats import read_depth_png
    from seglab.metrics.depth import depth_metrics

    root = tmp_path / "carla"
    written = _record(root)
    out = tmp_path / "out"
    base = ["--dataset", "carla", "--root", str(root), "--device", "cpu", "--out", str(out)]
    assert run_main(["--task", "semantic", "--models", "segformer-b0-cityscapes",
                     "--location", str(_tiny_cityscapes_segformer(tmp_path / "segformer")), *base]) == 0
    model = "depth-anything-v2-metric-indoor-small"
    assert run_main(["--task", "depth", "--models", model,
                     "--location", str(save_tiny_models(tmp_path / "weights", (model,)) / model), *base]) == 0
    rows = pd.read_csv(out / "results.csv").set_index("task")
    assert (rows["dataset"] == "carla-all").all() and (rows["n_images"] == 2).all() and (rows["n_failed"] == 0).all()
    assert 0 <= rows.loc["semantic", "mIoU"] <= 100
    preds = out / "predictions" / model / "depth" / "depth"
    expected = np.mean([depth_metrics(read_depth_png(preds / name), metres, max_depth=MAX_DEPTH)["AbsRel"]
                        for name, (_, metres) in written.items()])
    assert rows.loc["depth", "AbsRel"] == pytest.approx(expected, rel=1e-3)
