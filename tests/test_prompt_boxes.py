"""benchmarks.run --task promptable --prompt-boxes: a detector's COCO results as box prompts on real COCO images,
scored as class-aware mask AP (checked against pycocotools' COCOeval over the written masks), the protocol each
row records, the options of the SAM paper's protocol, and malformed detection files."""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import seglab
from app_weights import save_tiny_models
from benchmarks.run import main
from benchmarks.tasks import RunConfig, promptable
from seglab.protocols import get_protocol
from test_benchmark_run import make_coco

MODEL = "baseline-box-as-mask"  # no weights: the mask is the box, so the run takes a second
DETECTED = (403817, 443303, 25560)  # several categories each
MISSED = 41888  # annotated, but the detector found nothing there: its objects count as misses
EMPTY = 58636  # no annotation: the detector's box there is a false positive
IMAGES = (*DETECTED, MISSED, EMPTY)


def detections(gt: dict) -> list[dict]:
    """A detector's output made from the ground truth: boxes shifted and shrunk, every third one given another
    category, one duplicate, one false positive; scores drawn at random (seeded)."""
    rng = random.Random(0)
    categories = sorted(c["id"] for c in gt["categories"])
    out = []
    anns = [a for a in gt["annotations"] if a["image_id"] in DETECTED and not a["iscrowd"]]
    for i, a in enumerate(anns):
        x, y, w, h = a["bbox"]
        category = a["category_id"] if i % 3 else categories[(categories.index(a["category_id"]) + 1) % len(categories)]
        out.append({"image_id": a["image_id"], "category_id": category,
                    "bbox": [x + 0.05 * w, max(0.0, y - 0.04 * h), 0.95 * w, 0.96 * h],
                    "score": round(rng.uniform(0.3, 1.0), 4)})
    out.append({**out[0], "score": 0.2})  # a duplicate: a false positive at every IoU threshold
    out.append({"image_id": EMPTY, "category_id": 1, "bbox": [10.0, 20.0, 100.0, 80.0], "score": 0.9})
    return out


@pytest.fixture(scope="module")
def coco(coco_root: Path, tmp_path_factory) -> Path:
    return make_coco(tmp_path_factory.mktemp("coco"), coco_root, IMAGES)


@pytest.fixture(scope="module")
def dets_file(coco: Path, tmp_path_factory) -> Path:
    gt = json.loads((coco / "annotations" / "instances_val2017.json").read_text())
    path = tmp_path_factory.mktemp("dets") / "detections.json"
    path.write_text(json.dumps(detections(gt)))
    return path


def args(coco: Path, out: Path, *extra: str, model: str = MODEL) -> list[str]:
    return ["--models", model, "--task", "promptable", "--coco-root", str(coco), "--device", "cpu",
            "--out", str(out), *extra]


def rows(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv").set_index("protocol")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def written(out: Path, dets: Path, protocol: str = "coco-detection-boxes") -> list[dict]:
    """The COCO entries a --prompt-boxes run of ``dets`` wrote (its records' folder names the file's sha256)."""
    lines = (out / "predictions" / MODEL / f"promptable-{protocol}-{sha(dets)}" / "rank0.jsonl").read_text()
    return [e for line in lines.splitlines() for e in json.loads(line)["prediction"]]


@pytest.fixture(scope="module")
def run(coco: Path, dets_file: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(args(coco, out, "--prompt-boxes", str(dets_file))) == 0
    return out


def test_ap_is_cocoeval_over_the_written_masks_with_the_detections_categories_and_scores(run: Path, coco: Path,
                                                                                           dets_file: Path):
    dets = json.loads(dets_file.read_text())
    entries = written(run, dets_file)
    assert sorted(e["detection"] for e in entries) == list(range(len(dets)))  # one mask per detection
    for e in entries:
        det = dets[e["detection"]]
        assert (e["image_id"], e["category_id"], e["score"]) == (det["image_id"], det["category_id"], det["score"])
    gt = COCO(str(coco / "annotations" / "instances_val2017.json"))
    results = [{"image_id": dets[e["detection"]]["image_id"], "category_id": dets[e["detection"]]["category_id"],
                "score": dets[e["detection"]]["score"], "segmentation": e["segmentation"]} for e in entries]
    ev = COCOeval(gt, gt.loadRes(results), "segm")
    ev.params.imgIds = sorted(IMAGES)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    r = rows(run).loc["coco-detection-boxes"]
    assert r["n_images"] == len(IMAGES) and r["n_failed"] == 0
    assert [r["AP"], r["AP50"], r["AP75"], r["AR@100"]] == pytest.approx(
        [100 * ev.stats[0], 100 * ev.stats[1], 100 * ev.stats[2], 100 * ev.stats[8]])
    assert 0 < r["AP"] < r["AP50"] < 100  # class-aware: the detections given another category are misses
    assert "mIoU" not in r.index and "detections.json" in r["note"]


def test_rows_record_the_protocol_and_runs_of_two_protocols_stay_apart(run: Path, coco: Path, dets_file: Path):
    assert main(args(coco, run, "--prompt-boxes", str(dets_file), "--prompt-boxes-from", "vitdet-h")) == 0
    assert main(args(coco, run, "--limit", "1")) == 0  # ground-truth boxes, the plain run
    table = rows(run)
    assert sorted(table.index) == ["coco-detection-boxes", "coco-gt-boxes", "coco-vitdet-h-boxes"]
    assert table.loc["coco-vitdet-h-boxes", "AP"] == table.loc["coco-detection-boxes", "AP"]  # same file, same masks
    assert "stated to be vitdet-h's" in table.loc["coco-vitdet-h-boxes", "note"]
    assert table.loc["coco-gt-boxes", "n_images"] == 1 and "class-agnostic" in table.loc["coco-gt-boxes", "note"]
    folders = sorted(p.name for p in (run / "predictions" / MODEL).iterdir())
    assert folders == ["promptable", f"promptable-coco-detection-boxes-{sha(dets_file)}",
                       f"promptable-coco-vitdet-h-boxes-{sha(dets_file)}"]
    latency = pd.read_csv(run / "latency.csv")
    assert set(latency["protocol"]) == set(table.index)


def test_top_k_and_score_threshold_per_image(coco: Path, dets_file: Path, tmp_path: Path):
    dets = json.loads(dets_file.read_text())
    assert main(args(coco, tmp_path, "--prompt-boxes", str(dets_file), "--max-detections", "1",
                     "--min-score", "0.5")) == 0
    kept = {e["image_id"]: e["detection"] for e in written(tmp_path, dets_file)}
    best: dict[int, int] = {}
    for i, d in sorted(enumerate(dets), key=lambda item: -item[1]["score"]):
        if d["score"] >= 0.5:
            best.setdefault(d["image_id"], i)
    assert kept == best and len(best) >= 2
    assert len(written(tmp_path, dets_file)) == len(kept) and rows(tmp_path).loc["coco-detection-boxes", "n_images"] == 5
    before = rows(tmp_path).loc["coco-detection-boxes", ["AP", "AR@100"]].tolist()
    assert main(args(coco, tmp_path, "--prompt-boxes", str(dets_file), "--max-detections", "1", "--min-score", "0.5",
                     "--rescore")) == 0
    assert rows(tmp_path).loc["coco-detection-boxes", ["AP", "AR@100"]].tolist() == before


def test_another_detection_file_never_resumes_the_first_files_masks(coco: Path, dets_file: Path, tmp_path: Path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps(json.loads(dets_file.read_text())[:2]))
    assert main(args(coco, tmp_path, "--prompt-boxes", str(dets_file), "--limit", "2")) == 0
    assert main(args(coco, tmp_path, "--prompt-boxes", str(other), "--resume")) == 0
    assert sorted(e["detection"] for e in written(tmp_path, other)) == [0, 1]  # none of the first file's masks
    r = rows(tmp_path).loc["coco-detection-boxes"]  # the later run replaces the row of its protocol
    assert r["n_images"] == len(IMAGES) and "other.json" in r["note"]


def test_refinement_feeds_the_best_masks_logits_back_with_the_box(coco: Path, dets_file: Path, tmp_path: Path,
                                                                    monkeypatch):
    model = "sam-vit-base"
    weights = save_tiny_models(tmp_path / "weights", (model,)) / model
    calls = []
    real = seglab.predict

    def spy(adapter, image, prompt, **options):
        result = real(adapter, image, prompt, **options)
        calls.append((prompt.boxes.tolist(), options.get("mask_input"), result))
        return result

    monkeypatch.setattr(seglab, "predict", spy)
    base = args(coco, tmp_path / "out", "--prompt-boxes", str(dets_file), "--limit", "1",
                "--weights", f"{model}={weights}", model=model)
    assert main(base) == 0
    assert rows(tmp_path / "out").loc["coco-detection-boxes", "n_failed"] == 0
    first, second = calls[0::2], calls[1::2]
    assert len(first) == len(second) == sum(d["image_id"] == DETECTED[0] for d in json.loads(dets_file.read_text()))
    for (box, no_mask, masks), (same_box, mask_input, refined) in zip(first, second):
        assert no_mask is None and same_box == box and (len(masks), len(refined)) == (3, 1)  # SAM's three, then one
        np.testing.assert_array_equal(mask_input, masks.logits[int(np.argmax(masks.scores))])
    calls.clear()
    assert main([*base, "--no-refine", "--out", str(tmp_path / "once")]) == 0
    assert len(calls) == len(first) and all(mask is None for _, mask, _ in calls)
    assert "no refinement pass" in rows(tmp_path / "once").loc["coco-detection-boxes", "note"]


def bad_files() -> list[tuple[object, str]]:
    ok = {"image_id": DETECTED[0], "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.5}
    return [
        ("{not json", "is not valid JSON"),
        ({"annotations": [ok]}, "must hold a non-empty list of COCO detection results"),
        ([], "must hold a non-empty list"),
        ([ok, {k: v for k, v in ok.items() if k != "score"}], "detection 1 needs image_id, category_id, bbox and score"),
        ([{**ok, "bbox": [1, 2, 30]}], "a bbox is [x, y, width, height] with width, height >= 0"),
        ([{**ok, "bbox": [1, 2, -30, 40]}], "has bbox [1, 2, -30, 40]"),
        ([{**ok, "score": "high"}], "has score 'high'; a score is a finite number"),
        ([{**ok, "image_id": 999999999}], "detection 0 has image id 999999999, which is not in the ground truth"),
        ([{**ok, "category_id": 12}], "detection 0 has category id 12, which is not a category of the ground truth"),
    ]


@pytest.mark.parametrize("content, message", bad_files())
def test_malformed_detection_files_exit_2_with_one_sentence(coco: Path, tmp_path: Path, capsys, content, message):
    path = tmp_path / "dets.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert main(args(coco, tmp_path / "out", "--prompt-boxes", str(path))) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "results.csv").exists()


@pytest.mark.parametrize("extra, message", [
    (["--everything"], "leave out --everything"),
    (["--max-detections", "0"], "--max-detections must be at least 1"),
    (["--batch-size", "4"], "prompts one box at a time"),
    (["--prompt-boxes-from", "vitdet-h", "--min-score", "0.3"], "records the SAM paper's protocol"),
    (["--prompt-boxes-from", "vitdet-h", "--no-refine"], "records the SAM paper's protocol"),
])
def test_options_that_contradict_the_protocol_exit_2(coco: Path, dets_file: Path, tmp_path: Path, capsys, extra,
                                                     message):
    assert main(args(coco, tmp_path, "--prompt-boxes", str(dets_file), *extra)) == 2
    assert message in capsys.readouterr().err


def test_prompt_boxes_from_needs_the_file(coco: Path, tmp_path: Path, capsys):
    assert main(args(coco, tmp_path, "--prompt-boxes-from", "vitdet-h")) == 2
    assert "give the file" in capsys.readouterr().err


@pytest.mark.parametrize("options, expected", [
    ({}, "coco-gt-boxes"),
    ({"prompt": "center-point"}, "coco-gt-center-points"),
    ({"everything": True}, "coco-everything"),
    ({"prompt_boxes": "d.json"}, "coco-detection-boxes"),
    ({"prompt_boxes": "d.json", "prompt_boxes_from": "vitdet-h"}, "coco-vitdet-h-boxes"),
])
def test_each_kind_of_prompt_names_a_promptable_protocol(options: dict, expected: str):
    assert promptable.protocol(RunConfig("promptable", options=options)) == expected
    assert get_protocol(expected).task == "promptable"
