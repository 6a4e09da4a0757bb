"""Layouts of the driving-scene data sets (tiny fake folders), their label tables and their error messages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmarks.download_data import check, instructions
from benchmarks.download_data import main as download_main
from seglab import SeglabError
from seglab.datasets import DatasetLayoutError, InvalidLabelError, get_label_set, load_semantic_dataset
from seglab.datasets.cityscapes import label_table

RNG = np.random.default_rng(0)


def _png(path: Path, array: np.ndarray, palette: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array)
    if palette:  # the data sets ship palette PNGs: the stored indices are the label ids
        img = img.convert("P")
        img.putpalette(list(RNG.integers(0, 256, 768, dtype=np.uint8)))
        img.putdata(array.reshape(-1).tolist())
    img.save(path)


def _rgb(h: int = 12, w: int = 16) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture()
def cityscapes_root(tmp_path: Path) -> Path:
    for city, frame in (("aachen", "000000_000019"), ("bremen", "000001_000019")):
        _png(tmp_path / "leftImg8bit/val" / city / f"{city}_{frame}_leftImg8bit.png", _rgb())
        label = RNG.choice([0, 7, 8, 11, 23, 26, 33], size=(12, 16)).astype(np.uint8)
        _png(tmp_path / "gtFine/val" / city / f"{city}_{frame}_gtFine_labelIds.png", label)
    return tmp_path


def test_cityscapes_table_comes_from_cityscapesscripts() -> None:
    from cityscapesscripts.helpers.labels import labels

    names, lut = label_table()
    assert len(names) == 19
    for label in labels:
        if label.id >= 0:
            expected = label.trainId if not label.ignoreInEval else 255
            assert lut[label.id] == expected
            if not label.ignoreInEval:
                assert names[label.trainId] == label.name


def test_cityscapes_layout_loads_and_maps_to_train_ids(cityscapes_root: Path) -> None:
    ds = load_semantic_dataset("cityscapes", cityscapes_root)
    assert [s.image_id for s in ds] == ["aachen_000000_000019", "bremen_000001_000019"]
    assert (ds.num_classes, ds.ignore_index, ds.benchmark_name) == (19, 255, "cityscapes-val")
    raw = np.asarray(Image.open(ds.samples[0].label_path))
    train = ds.load_label(ds.samples[0])
    assert train.shape == raw.shape
    np.testing.assert_array_equal(train[raw == 7], 0)  # road
    np.testing.assert_array_equal(train[raw == 26], 13)  # car
    np.testing.assert_array_equal(train[raw == 0], 255)  # unlabeled -> ignore


def test_cityscapes_missing_folder_and_label_are_named(cityscapes_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"leftImg8bit/test.*leftImg8bit_trainvaltest\.zip"):
        load_semantic_dataset("cityscapes", cityscapes_root, split="test")
    (cityscapes_root / "leftImg8bit/test").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"gtFine/test.*gtFine_trainvaltest\.zip"):
        load_semantic_dataset("cityscapes", cityscapes_root, split="test")
    (cityscapes_root / "gtFine/val/bremen/bremen_000001_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetLayoutError, match=r"bremen_000001_000019_gtFine_labelIds\.png.*label ids"):
        load_semantic_dataset("cityscapes", cityscapes_root)
    with pytest.raises(DatasetLayoutError, match="no folder"):
        load_semantic_dataset("cityscapes", tmp_path / "nowhere")
    with pytest.raises(SeglabError, match="unknown data set 'kitti'"):
        load_semantic_dataset("kitti", cityscapes_root)


def test_label_size_mismatch_and_unknown_ids_are_clear(cityscapes_root: Path) -> None:
    ds = load_semantic_dataset("cityscapes", cityscapes_root)
    first, second = ds.samples
    _png(first.label_path, np.full((6, 16), 7, np.uint8))
    with pytest.raises(InvalidLabelError, match=r"is 16x6 but its image .* is 16x12"):
        ds.load_label(first)
    _png(second.label_path, np.full((12, 16), 40, np.uint8))
    with pytest.raises(InvalidLabelError, match=r"label id\(s\) \[40\].*cityscapes"):
        ds.load_label(second)
    _png(second.label_path, _rgb())
    with pytest.raises(InvalidLabelError, match="RGB image"):
        ds.load_label(second)


def _mapillary(root: Path, version: str) -> None:
    config = {"labels": [{"name": "nature--sky", "readable": "Sky", "color": [70, 130, 180], "evaluate": True},
                         {"name": "void--unlabeled", "readable": "Unlabeled", "color": [0, 0, 0], "evaluate": False},
                         {"name": "construction--flat--road", "readable": "Road", "color": [128, 64, 128],
                          "evaluate": True}]}
    (root / f"config_{version}.json").parent.mkdir(parents=True, exist_ok=True)
    (root / f"config_{version}.json").write_text(json.dumps(config))
    for key in ("k1", "k2"):
        img = root / "validation/images" / f"{key}.jpg"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rgb()).save(img)
        _png(root / "validation" / version / "labels" / f"{key}.png",
             RNG.integers(0, 3, (12, 16)).astype(np.uint8), palette=True)


@pytest.mark.parametrize("version", ["v1.2", "v2.0"])
def test_mapillary_layout_and_config_classes(tmp_path: Path, version: str) -> None:
    _mapillary(tmp_path, version)
    ds = load_semantic_dataset("mapillary", tmp_path)
    assert ds.class_names == ("Sky", "Road")  # 'evaluate: false' labels are ignored, order kept
    assert len(ds) == 2 and ds.benchmark_name.startswith("mapillary-vistas")
    raw = np.asarray(Image.open(ds.samples[0].label_path))
    train = ds.load_label(ds.samples[0])
    np.testing.assert_array_equal(train, np.choose(raw, [0, 255, 1]))


def test_mapillary_wrong_layout(tmp_path: Path) -> None:
    _mapillary(tmp_path, "v1.2")
    (tmp_path / "config_v1.2.json").unlink()
    with pytest.raises(DatasetLayoutError, match=r"config_v1\.2\.json.*class list"):
        load_semantic_dataset("mapillary", tmp_path)
    with pytest.raises(DatasetLayoutError, match=r"v2\.0/labels"):
        load_semantic_dataset("mapillary", tmp_path, version="v2.0")
    (tmp_path / "config_v1.2.json").write_text("[1, 2]")
    with pytest.raises(DatasetLayoutError, match="not a Mapillary Vistas config"):
        load_semantic_dataset("mapillary", tmp_path)


def _gta5(root: Path) -> None:
    for i in (1, 2, 3):
        _png(root / "images" / f"{i:05d}.png", _rgb())
        _png(root / "labels" / f"{i:05d}.png", RNG.choice([0, 7, 24, 26], size=(12, 16)).astype(np.uint8),
             palette=True)


def test_gta5_layout_and_official_split(tmp_path: Path) -> None:
    from scipy.io import savemat

    _gta5(tmp_path)
    ds = load_semantic_dataset("gta5", tmp_path)
    assert [s.image_id for s in ds] == ["00001", "00002", "00003"] and ds.num_classes == 19
    raw = np.asarray(Image.open(ds.samples[0].label_path))
    np.testing.assert_array_equal(ds.load_label(ds.samples[0]), label_table()[1][raw])
    with pytest.raises(DatasetLayoutError, match=r"split\.mat.*split='all'"):
        load_semantic_dataset("gta5", tmp_path, split="val")
    savemat(tmp_path / "split.mat", {"trainIds": np.array([[1], [3]]), "valIds": np.array([[2]]),
                                     "testIds": np.array([[3]])})
    assert [s.image_id for s in load_semantic_dataset("gta5", tmp_path, split="val")] == ["00002"]
    (tmp_path / "labels/00003.png").unlink()
    with pytest.raises(DatasetLayoutError, match=r"labels/00003\.png"):
        load_semantic_dataset("gta5", tmp_path)


def test_data_sets_name_the_label_set_of_their_models(cityscapes_root: Path, tmp_path: Path) -> None:
    ds = load_semantic_dataset("cityscapes", cityscapes_root)
    assert ds.label_set == "cityscapes-19" and ds.class_names == get_label_set(ds.label_set).names
    _gta5(tmp_path / "gta5")
    assert load_semantic_dataset("gta5", tmp_path / "gta5").label_set == "cityscapes-19"
    for version, label_set in (("v1.2", "mapillary-vistas-65"), ("v2.0", "")):
        _mapillary(tmp_path / version, version)
        assert load_semantic_dataset("mapillary", tmp_path / version).label_set == label_set


def test_download_data_explains_and_checks(cityscapes_root: Path, tmp_path: Path, capsys) -> None:
    text = instructions("cityscapes")
    assert "gtFine_trainvaltest.zip" in text and "leftImg8bit_trainvaltest.zip" in text and "account" in text
    assert "createPanopticImgs --dataset-folder DIR/gtFine" in text and "--task semantic|panoptic" in text
    ok, lines = check("cityscapes", cityscapes_root)
    assert ok and any("usable: 2 val images, 19 classes" in line for line in lines)
    assert download_main(["cityscapes", "--root", str(cityscapes_root)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert download_main(["cityscapes", "--root", str(empty)]) == 1
    out = capsys.readouterr().out
    assert "[missing] leftImg8bit/val" in out and "not usable: missing folder" in out
    assert download_main(["mapillary"]) == 0 and "mapillary.com" in capsys.readouterr().out


def test_download_data_checks_mapillary_and_gta5_folders(tmp_path: Path) -> None:
    _mapillary(tmp_path / "vistas", "v2.0")
    ok, lines = check("mapillary", tmp_path / "vistas")
    assert ok and "  [ok] config_v2.0.json" in lines and "  [ok] validation/v2.0/labels" in lines
    assert "usable: 2 val images, 2 classes" in lines[-1]
    _gta5(tmp_path / "gta5")
    (tmp_path / "gta5" / "labels" / "00002.png").unlink()
    ok, lines = check("gta5", tmp_path / "gta5")
    assert not ok and lines[:2] == ["  [ok] images", "  [ok] labels"] and "labels/00002.png" in lines[-1]
    assert "account" not in instructions("gta5") and "split.mat" in instructions("gta5")


def _tiny_semantic_model(folder: Path, family: str, names: tuple[str, ...]) -> Path:
    """Random tiny SegFormer or Mask2Former predicting ``names``, saved where ``--location`` reads it."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    labels = {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
    if family == "segformer":
        model = tf.SegformerForSemanticSegmentation(tf.SegformerConfig(
            hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1],
            decoder_hidden_size=16, **labels))
        processor = tf.SegformerImageProcessor(size={"height": 32, "width": 32})
    else:
        swin = tf.SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4,
                             out_features=["stage1", "stage2", "stage3", "stage4"])
        model = tf.Mask2FormerForUniversalSegmentation(tf.Mask2FormerConfig(
            backbone_config=swin, hidden_dim=32, mask_feature_size=32, feature_size=32, encoder_feedforward_dim=64,
            dim_feedforward=64, encoder_layers=1, decoder_layers=2, num_attention_heads=2, num_queries=8,
            common_stride=4, **labels))
        processor = tf.Mask2FormerImageProcessor(size={"shortest_edge": 32, "longest_edge": 64}, size_divisor=32)
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("name, model_id, family, published_name", [
    ("cityscapes", "segformer-b0-cityscapes", "segformer", "cityscapes-val"),
    ("gta5", "segformer-b0-cityscapes", "segformer", "gta5-all"),
    ("mapillary", "mask2former-swin-large-mapillary-vistas-semantic", "mask2former", "mapillary-vistas-val"),
])
def test_benchmark_runs_semantic_on_a_driving_layout(tmp_path: Path, cityscapes_root: Path, name: str, model_id: str,
                                                      family: str, published_name: str) -> None:
    from benchmarks.run import main as run_main

    root = cityscapes_root
    if name == "gta5":
        _gta5(root := tmp_path / "gta5")
    elif name == "mapillary":
        _mapillary(root := tmp_path / "vistas", "v1.2")
    ds = load_semantic_dataset(name, root)
    weights = _tiny_semantic_model(tmp_path / "model", family, ds.class_names)
    out = tmp_path / "out"
    assert run_main(["--task", "semantic", "--dataset", name, "--root", str(root), "--models", model_id,
                     "--location", str(weights), "--device", "cpu", "--out", str(out)]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert (row["model"], row["dataset"], row["n_images"], row["n_failed"]) == (model_id, published_name, len(ds), 0)
    assert 0 <= row["mIoU"] <= 100 and row["note"] == ds.note
    assert len(list((out / "predictions" / model_id / "semantic" / "semantic").glob("*.png"))) == len(ds)


def test_benchmark_rejects_a_model_of_another_label_set(tmp_path: Path, cityscapes_root: Path, capsys) -> None:
    from benchmarks.run import main as run_main

    weights = _tiny_semantic_model(tmp_path / "model", "segformer", ("sky", "road", "car"))
    assert run_main(["--task", "semantic", "--dataset", "cityscapes", "--root", str(cityscapes_root), "--models",
                     "segformer-b0-cityscapes", "--location", str(weights), "--device", "cpu",
                     "--out", str(tmp_path / "out")]) == 2
    assert "predicts 3 classes but cityscapes-val has 19" in capsys.readouterr().err


@pytest.mark.parametrize("model_id, dataset, message", [
    ("segformer-b0-ade", "cityscapes", "segformer-b0-ade predicts the ade20k-150 label set but cityscapes-val is "
                                       "labelled with cityscapes-19"),
    ("segformer-b0-cityscapes", "coco", "segformer-b0-cityscapes predicts its own label set, not coco's "
                                        "(cityscapes-19)"),
])
def test_benchmark_refuses_a_model_of_another_label_set_before_running(
        tmp_path: Path, cityscapes_root: Path, coco_root: Path, capsys, model_id: str, dataset: str,
        message: str) -> None:
    from benchmarks.run import main as run_main

    where = ["--root", str(cityscapes_root)] if dataset == "cityscapes" else ["--coco-root", str(coco_root)]
    assert run_main(["--task", "semantic", "--dataset", dataset, *where, "--models", model_id, "--device", "cpu",
                     "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


def test_benchmark_without_root_or_with_a_wrong_layout_exits_2(tmp_path: Path, capsys) -> None:
    from benchmarks.run import main as run_main

    base = ["--task", "semantic", "--models", "segformer-b0-cityscapes", "--device", "cpu", "--out", str(tmp_path)]
    assert run_main([*base, "--dataset", "cityscapes"]) == 2
    assert "needs --root" in capsys.readouterr().err
    assert run_main([*base, "--dataset", "mapillary", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing folder" in err and "validation" in err and len(err.strip().splitlines()) == 1
