"""CelebAMask-HQ in its download's layout: part masks merged as the official g_mask.py does, CelebA's test split,
clear errors for a wrong folder, and the part benchmark end to end with a tiny face-parsing model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import seglab
from app_weights import save_tiny_models
from benchmarks.run import main
from seglab.datasets import DatasetLayoutError, InvalidLabelError, load_semantic_dataset
from seglab.metrics import SemanticEvaluator

OFFICIAL = json.loads((Path(__file__).parent / "data" / "celebamask_hq_g_mask.json").read_text())
# (CelebA-HQ idx, CelebA orig_idx): 0 and 2 are in CelebA's test partition (>= 182638), 1 in val, 3 in train
FACES = ((0, 190000), (1, 170000), (2, 182638), (3, 1000))


def write_celebamask(root: Path, rng: np.random.Generator) -> Path:
    """A few faces written as the download holds them: 1024 x 1024 JPEGs, binary 512 x 512 part PNGs (RGB, as the
    download's are) for a random subset of parts, and the mapping file with its header line."""
    (root / "CelebA-HQ-img").mkdir(parents=True)
    lines = ["idx orig_idx orig_file"]
    for idx, orig in FACES:
        face = rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
        Image.fromarray(face).save(root / "CelebA-HQ-img" / f"{idx}.jpg")
        folder = root / "CelebAMask-HQ-mask-anno" / str(idx // 2000)
        folder.mkdir(parents=True, exist_ok=True)
        for part in rng.choice(OFFICIAL["label_list"], 8, replace=False):
            y, x = rng.integers(0, 400, 2)
            mask = np.zeros((512, 512, 3), np.uint8)
            mask[y:y + rng.integers(30, 200), x:x + rng.integers(30, 200)] = 255
            Image.fromarray(mask).save(folder / f"{idx:05d}_{part}.png")
        lines.append(f"{idx} {orig} {orig + 1:06d}.jpg")
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(lines) + "\n")
    return root


def g_mask(folder: Path, k: int) -> np.ndarray:
    """The official g_mask.py loop (switchablenorms/CelebAMask-HQ), with PIL for cv2."""
    im_base = np.zeros((512, 512))
    for idx, label in enumerate(OFFICIAL["label_list"]):
        filename = folder / str(k // 2000) / (str(k).rjust(5, "0") + "_" + label + ".png")
        if filename.exists():
            im = np.asarray(Image.open(filename))[:, :, 0]
            im_base[im != 0] = idx + 1
    return im_base


@pytest.fixture(scope="module")
def celebamask(tmp_path_factory) -> Path:
    return write_celebamask(tmp_path_factory.mktemp("celebamask"), np.random.default_rng(0))


def test_labels_are_merged_as_the_official_script_merges_them(celebamask: Path):
    ds = load_semantic_dataset("celebamask-hq", celebamask)
    assert [s.image_id for s in ds] == ["0", "2"] and ds.benchmark_name == "celebamask-hq-test"
    assert ds.eval_size == (512, 512) and ds.class_names[0] == "background" and ds.num_classes == 19
    for sample in ds:
        labels = ds.load_label(sample)
        np.testing.assert_array_equal(labels, g_mask(celebamask / "CelebAMask-HQ-mask-anno", int(sample.image_id)))
        assert len(np.unique(labels)) > 3  # overlapping parts were overwritten in order
    assert [s.image_id for s in load_semantic_dataset("celebamask-hq", celebamask, "val")] == ["1"]
    assert len(load_semantic_dataset("celebamask-hq", celebamask, "all")) == 4


def test_a_wrong_folder_says_what_is_missing(celebamask: Path, tmp_path: Path):
    with pytest.raises(DatasetLayoutError, match="CelebA-HQ-img"):
        load_semantic_dataset("celebamask-hq", tmp_path)
    (tmp_path / "CelebA-HQ-img").mkdir()
    (tmp_path / "CelebAMask-HQ-mask-anno").mkdir()
    with pytest.raises(DatasetLayoutError, match="CelebA-HQ-to-CelebA-mapping.txt"):
        load_semantic_dataset("celebamask-hq", tmp_path)
    (tmp_path / "CelebA-HQ-to-CelebA-mapping.txt").write_text("idx orig_idx orig_file\n0 190000 x.jpg\n")
    with pytest.raises(DatasetLayoutError, match="0.jpg"):
        load_semantic_dataset("celebamask-hq", tmp_path)
    with pytest.raises(DatasetLayoutError, match="unknown CelebAMask-HQ split 'dev'"):
        load_semantic_dataset("celebamask-hq", celebamask, "dev")
    ds = load_semantic_dataset("celebamask-hq", celebamask)
    bad = ds.samples[0].label_path / "00000_hat.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(bad)
    with pytest.raises(InvalidLabelError, match="00000_hat.png is 100x100, not 512x512"):
        ds.load_label(ds.samples[0])
    bad.unlink()


def test_the_part_benchmark_scores_a_face_model_at_the_annotations_size(celebamask: Path, tmp_path: Path):
    model = "segformer-b5-face-parsing"
    weights = save_tiny_models(tmp_path / "weights", (model,)) / model
    out = tmp_path / "out"
    assert main(["--models", model, "--task", "part", "--dataset", "celebamask-hq", "--root", str(celebamask),
                 "--device", "cpu", "--weights", f"{model}={weights}", "--out", str(out)]) == 0
    r = pd.read_csv(out / "results.csv").iloc[0]
    assert (r["task"], r["dataset"], r["n_images"], r["n_failed"]) == ("part", "celebamask-hq-test", 2, 0)
    ds = load_semantic_dataset("celebamask-hq", celebamask)
    reference = SemanticEvaluator(19, ds.class_names)
    for s in ds:
        pred = np.asarray(Image.open(out / "predictions" / model / "part" / "part" / f"{s.image_id}.png"))
        assert pred.shape == (512, 512)
        reference.process(g_mask(celebamask / "CelebAMask-HQ-mask-anno", int(s.image_id)).astype(int), pred)
    expected = reference.evaluate()
    assert r["mIoU"] == pytest.approx(expected["mIoU"], abs=1e-6)
    f1 = [v for n, v in expected["F1"].items() if n != "background" and not np.isnan(v)]
    assert r["mF1"] == pytest.approx(np.mean(f1), abs=1e-6) and r["F1 skin"] == pytest.approx(expected["F1"]["skin"])


def test_a_model_of_other_parts_is_refused(celebamask: Path, tmp_path: Path, capsys):
    assert main(["--models", "segformer-b2-clothes", "--task", "part", "--dataset", "celebamask-hq", "--root",
                 str(celebamask), "--out", str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert "predicts the atr-18 parts but celebamask-hq-test is labelled with celebamask-hq-19" in said
    assert seglab.get_spec("segformer-b2-clothes").labels == "atr-18"
