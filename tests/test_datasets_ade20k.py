"""ADE20K (ADEChallengeData2016 layout, tiny fixture in tmp_path): reduced labels, layout errors, download_data,
and benchmarks.run scoring a tiny SegFormer on it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmarks.download_data import check, instructions
from benchmarks.download_data import main as download_main
from seglab.datasets import DatasetLayoutError, InvalidLabelError, get_label_set, load_semantic_dataset
from seglab.formats import read_label_png

RNG = np.random.default_rng(0)
NAMES = ("ADE_val_00000001", "ADE_val_00000002", "ADE_val_00000003")


def _mmseg_reduce_zero_label(raw: np.ndarray) -> np.ndarray:
    """mmseg ``LoadAnnotations(reduce_zero_label=True)`` (NVlabs/SegFormer mmseg/datasets/pipelines/loading.py,
    commit 65fa8cfa9b52b6ee7e8897a98705abf8570f9e32; ADE20KDataset fixes reduce_zero_label=True), on uint8."""
    gt = raw.astype(np.uint8).copy()
    gt[gt == 0] = 255
    gt = gt - 1
    gt[gt == 254] = 255
    return gt


def _write(root: Path, names=NAMES, folder: str = "validation", h: int = 24, w: int = 40) -> Path:
    for name in names:
        image = root / "images" / folder / f"{name}.jpg"
        label = root / "annotations" / folder / f"{name}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        label.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(image)
        raw = RNG.choice([0, 1, 2, 13, 150], size=(h, w)).astype(np.uint8)  # 0 = other; 150 = the last class
        Image.fromarray(raw).save(label)
    return root


@pytest.fixture()
def ade_root(tmp_path: Path) -> Path:
    return _write(tmp_path / "ADEChallengeData2016")


def test_ade20k_loads_with_reduced_labels(ade_root: Path) -> None:
    ds = load_semantic_dataset("ade20k", ade_root)
    assert (ds.benchmark_name, len(ds), ds.num_classes, ds.label_set) == ("ade20k-val", 3, 150, "ade20k-150")
    assert ds.class_names == get_label_set("ade20k-150").names and ds.class_names[0] == "wall"
    assert [s.image_id for s in ds] == list(NAMES)
    for sample in ds:
        raw = np.asarray(Image.open(sample.label_path))
        np.testing.assert_array_equal(ds.load_label(sample), _mmseg_reduce_zero_label(raw))


def test_ade20k_train_split_reads_the_training_folders(tmp_path: Path) -> None:
    root = _write(tmp_path / "ade", ("ADE_train_00000001",), folder="training")
    ds = load_semantic_dataset("ade20k", root, split="train")
    assert ds.benchmark_name == "ade20k-train" and [s.image_id for s in ds] == ["ADE_train_00000001"]


def test_ade20k_wrong_layouts_are_named(ade_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="point --root at .*ADEChallengeData2016"):
        load_semantic_dataset("ade20k", ade_root.parent)
    (ade_root / "annotations" / "validation" / f"{NAMES[1]}.png").unlink()
    with pytest.raises(DatasetLayoutError, match=f"missing file .*{NAMES[1]}.png: expected the annotation of"):
        load_semantic_dataset("ade20k", ade_root)
    empty = tmp_path / "empty"
    (empty / "images" / "validation").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="missing folder .*annotations/validation"):
        load_semantic_dataset("ade20k", empty)
    (empty / "annotations" / "validation").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="no images in .*ADE_\\*.jpg"):
        load_semantic_dataset("ade20k", empty)
    with pytest.raises(DatasetLayoutError, match="unknown ADE20K split 'test'"):
        load_semantic_dataset("ade20k", ade_root, split="test")


def test_ade20k_ids_above_150_are_refused(ade_root: Path) -> None:
    ds = load_semantic_dataset("ade20k", ade_root)
    Image.fromarray(np.full((24, 40), 151, np.uint8)).save(ds.samples[0].label_path)
    with pytest.raises(InvalidLabelError, match=r"label id\(s\) \[151\] that ade20k does not define"):
        ds.load_label(ds.samples[0])


def test_download_data_explains_and_checks_ade20k(ade_root: Path, tmp_path: Path, capsys) -> None:
    text = instructions("ade20k")
    assert "ADEChallengeData2016.zip" in text and "account" not in text and "--dataset ade20k" in text
    ok, lines = check("ade20k", ade_root)
    assert ok and lines[-1].startswith("usable: 3 val images, 150 classes")
    assert download_main(["ade20k", "--root", str(tmp_path / "nothing")]) == 1
    assert "not usable" in capsys.readouterr().out


def _mmseg_miou(pairs: list[tuple[np.ndarray, np.ndarray]], num_classes: int = 150) -> float:
    """mmseg's ``intersect_and_union`` summed over images, then nan-mean IoU (percent), ignore index 255."""
    inter, union = np.zeros(num_classes), np.zeros(num_classes)
    for pred, label in pairs:
        mask = label != 255
        pred, label = pred[mask], label[mask]
        i = pred[pred == label]
        area_i = np.histogram(i, bins=num_classes, range=(0, num_classes - 1))[0]
        area_p = np.histogram(pred, bins=num_classes, range=(0, num_classes - 1))[0]
        area_l = np.histogram(label, bins=num_classes, range=(0, num_classes - 1))[0]
        inter += area_i
        union += area_p + area_l - area_i
    with np.errstate(invalid="ignore"):
        return float(np.nanmean(inter / union)) * 100


def test_benchmark_scores_segformer_on_ade20k(ade_root: Path, tmp_path: Path) -> None:
    import torch
    import transformers as tf

    from benchmarks.run import main as run_main

    torch.manual_seed(0)
    names = get_label_set("ade20k-150").names
    model = tf.SegformerForSemanticSegmentation(tf.SegformerConfig(
        hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1], decoder_hidden_size=16,
        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}))
    model.eval().save_pretrained(tmp_path / "model")
    # the Hub processor's settings of nvidia/segformer-b0-finetuned-ade-512-512 (see tests/test_sliding.py)
    tf.SegformerImageProcessor(size={"height": 512, "width": 512}, do_reduce_labels=True).save_pretrained(
        tmp_path / "model")
    out = tmp_path / "out"
    assert run_main(["--task", "semantic", "--dataset", "ade20k", "--root", str(ade_root), "--models",
                     "segformer-b0-ade", "--location", str(tmp_path / "model"), "--device", "cpu",
                     "--out", str(out)]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert (row["model"], row["dataset"], row["n_images"], row["n_failed"]) == ("segformer-b0-ade", "ade20k-val", 3, 0)
    folder = out / "predictions" / "segformer-b0-ade" / "semantic" / "semantic"
    pairs = [(read_label_png(folder / f"{n}.png"),
              _mmseg_reduce_zero_label(np.asarray(Image.open(ade_root / "annotations" / "validation" / f"{n}.png"))))
             for n in NAMES]
    assert all(p.shape == (24, 40) for p, _ in pairs)
    assert row["mIoU"] == pytest.approx(_mmseg_miou(pairs), abs=1e-6)
