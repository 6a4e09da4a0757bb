"""habitat-sim recordings as its sensors return them (RGBA uint8, float32 metres, uint32 object ids) with the scene's
object -> mpcat40 table: decoding against habitat-sim's category table (``tests/data/habitat_mpcat40.tsv``), the
layout errors, and the benchmark."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmarks.download_data import check, instructions
from seglab.datasets import DatasetLayoutError, InvalidLabelError, load_depth_dataset, load_semantic_dataset
from seglab.datasets.habitat import CLASSES, MAX_DEPTH, MPCAT40

TABLE = Path(__file__).parent / "data" / "habitat_mpcat40.tsv"
RNG = np.random.default_rng(0)
H, W = 24, 32
# a scene's semantic annotation: object semantic_id -> mpcat40 name, as the recording script writes it
OBJECTS = {"1": "wall", "2": "floor", "3": "chair", "4": "misc", "5": "unlabeled", "6": "void", "17": "ceiling"}


def _mpcat40() -> dict[str, int]:
    """mpcat40 name -> mpcat40index, from habitat-sim's Matterport3D category table."""
    rows = [line.split("\t") for line in TABLE.read_text().splitlines()[1:]]
    return {name: int(index) for index, name in rows}


def _record(root: Path, frames: int = 2, objects: dict[str, str] = OBJECTS) -> dict[str, tuple]:
    """A recording under ``root``; frame -> (object ids, metres) written."""
    ids = np.array([0, *map(int, objects)], np.uint32)
    written = {}
    for i in range(frames):
        name = f"{i:06d}"
        for folder in ("rgb", "depth", "semantic"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(RNG.integers(0, 256, (H, W, 4), dtype=np.uint8)).save(root / "rgb" / f"{name}.png")
        metres = RNG.uniform(0.3, 12.0, (H, W)).astype(np.float32)
        metres[:3, :3] = 0  # nothing hit
        np.save(root / "depth" / f"{name}.npy", metres)
        semantic = RNG.choice(ids, (H, W)).astype(np.uint32)
        np.save(root / "semantic" / f"{name}.npy", semantic)
        written[name] = (semantic, metres)
    (root / "objects.json").write_text(json.dumps(objects))
    return written


def test_mpcat40_is_habitat_sims_table() -> None:
    assert {name: index for index, name in enumerate(MPCAT40)} == _mpcat40()
    assert CLASSES == tuple(n for n, i in _mpcat40().items() if 1 <= i <= 40)


def test_objects_map_to_their_mpcat40_class(tmp_path: Path) -> None:
    written = _record(tmp_path)
    ds = load_semantic_dataset("habitat", tmp_path)
    assert (ds.benchmark_name, ds.label_set, ds.num_classes, len(ds)) == ("habitat-all", "", 40, 2)
    index = _mpcat40()
    train = {0: 255, **{int(k): index[v] - 1 if 1 <= index[v] <= 40 else 255 for k, v in OBJECTS.items()}}
    for sample in ds:
        objects = written[sample.image_id][0]
        np.testing.assert_array_equal(ds.load_label(sample), np.vectorize(train.get)(objects))
    np.save(ds.samples[0].label_path, np.full((H, W), 9, np.uint32))
    with pytest.raises(InvalidLabelError, match=r"label id\(s\) \[9\] that habitat does not define"):
        ds.load_label(ds.samples[0])


def test_depth_is_the_sensors_metres(tmp_path: Path) -> None:
    written = _record(tmp_path)
    pairs = load_depth_dataset("habitat", tmp_path)
    assert (pairs.benchmark_name, pairs.max_depth, len(pairs)) == ("habitat-all", MAX_DEPTH, 2)
    sample = pairs.samples[0]
    np.testing.assert_array_equal(pairs.load_depth(sample), written[sample.image_id][1])
    np.save(sample.depth_path, written[sample.image_id][1][..., None])  # habitat-lab's H x W x 1 observation
    np.testing.assert_array_equal(pairs.load_depth(sample), written[sample.image_id][1])
    np.save(sample.depth_path, np.zeros((H, W), np.uint16))
    with pytest.raises(InvalidLabelError, match=r"uint16 array of shape \(24, 32\); expected the depth sensor's"):
        pairs.load_depth(sample)
    np.save(sample.depth_path, np.zeros((H, W + 1), np.float32))
    with pytest.raises(InvalidLabelError, match=f"000000.npy is {W + 1}x{H} but its image 000000.png is {W}x{H}"):
        pairs.load_depth(sample)


@pytest.mark.parametrize("objects, message", [
    ('{"1": "sofa_bed"}', r"categories \['sofa_bed'\] that are not mpcat40 names .*hm3dsem_category_mappings"),
    ('{"-1": "wall"}', "negative object ids"),
    ('["wall"]', "is not a JSON object of object id -> mpcat40 name"),
    ('{"a": "wall"}', "is not a JSON object of object id -> mpcat40 name"),
])
def test_a_bad_object_table_is_named(tmp_path: Path, objects: str, message: str) -> None:
    _record(tmp_path, frames=1)
    (tmp_path / "objects.json").write_text(objects)
    with pytest.raises(DatasetLayoutError, match=message):
        load_semantic_dataset("habitat", tmp_path)


def test_wrong_layouts_say_what_is_missing(tmp_path: Path) -> None:
    _record(tmp_path)
    (tmp_path / "objects.json").unlink()
    with pytest.raises(DatasetLayoutError, match="missing file .*objects.json: expected the scene's object id"):
        load_semantic_dataset("habitat", tmp_path)
    (tmp_path / "semantic" / "000001.npy").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing file .*semantic/000001\.npy: expected the semantic frame"):
        load_semantic_dataset("habitat", tmp_path)
    with pytest.raises(DatasetLayoutError, match="one split, 'all'"):
        load_depth_dataset("habitat", tmp_path, split="val")
    (tmp_path / "depth").rename(tmp_path / "depths")
    with pytest.raises(DatasetLayoutError, match=r"missing folder .*depth: expected the depth sensor's float32 metres"):
        load_depth_dataset("habitat", tmp_path)


def test_download_data_says_how_to_record_and_checks_a_depth_only_recording(tmp_path: Path) -> None:
    text = instructions("habitat")
    assert "record it with the simulator" in text and "SensorType.SEMANTIC" in text and "objects.json" in text
    _record(tmp_path)
    (tmp_path / "objects.json").unlink()
    ok, lines = check("habitat", tmp_path)
    assert ok and lines[3] == "  [missing] objects.json"
    assert lines[4].startswith("not usable for semantic: missing file") and "usable for depth: 2 frames" in lines[5]


def test_benchmark_scores_depth_and_reads_semantic_truth_on_habitat(tmp_path: Path, capsys) -> None:
    from app_weights import save_tiny_models

    from benchmarks.run import main as run_main
    from benchmarks.tasks import RunConfig, semantic
    from seglab.formats import read_depth_png
    from seglab.metrics.depth import depth_metrics

    root = tmp_path / "habitat"
    written = _record(root)
    out = tmp_path / "out"
    base = ["--dataset", "habitat", "--root", str(root), "--device", "cpu", "--out", str(out)]
    model = "depth-anything-v2-metric-indoor-small"
    assert run_main(["--task", "depth", "--models", model,
                     "--location", str(save_tiny_models(tmp_path / "weights", (model,)) / model), *base]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert (row["dataset"], row["n_images"], row["n_failed"]) == ("habitat-all", 2, 0)
    preds = out / "predictions" / model / "depth" / "depth"
    expected = np.mean([depth_metrics(read_depth_png(preds / f"{name}.png"), metres, max_depth=MAX_DEPTH)["RMSE"]
                        for name, (_, metres) in written.items()])
    assert row["RMSE"] == pytest.approx(expected, rel=1e-3)

    assert run_main(["--task", "semantic", "--models", "segformer-b0-ade", *base]) == 2  # no model predicts mpcat40
    assert "labelled with its own 40 classes; score it on its data set or measure latency with --random-init" in (
        capsys.readouterr().err)
    config = RunConfig(task="semantic", model="segformer-b0-ade", dataset="habitat", root=root, random_init=True)
    dataset = semantic.load(config)  # what a --random-init run, or a future mpcat40 model, is scored against
    scorer = semantic.evaluator(dataset, config)
    for sample in dataset.samples:
        scorer.process(sample, (dataset.gt.labels(sample), len(CLASSES)))
    assert dataset.name == "habitat-all" and scorer.evaluate()["mIoU"] == pytest.approx(100)
