"""benchmarks.run on a few real COCO val2017 images with the offline default model: results, resume,
torchrun sharding (gloo, 2 processes), failures and bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import seglab
from app_weights import save_tiny_models
from benchmarks.random_init import save_random_weights
from benchmarks.run import main
from benchmarks.tasks import BenchmarkInputError, panoptic, promptable
from seglab.report import OFFLINE, RANDOM

MODEL = "embedded-u2netp-grabcut"
IMAGES = (6818, 122745, 297343, 85329)  # few instances each: a quick run
REPO = Path(__file__).resolve().parents[1]
METRICS = ["AR@100", "AP", "mIoU"]


def make_coco(root: Path, coco_root: Path, images: tuple[int, ...], broken: int | None = None) -> Path:
    """A COCO folder holding ``images`` of the shared slice (linked, not copied) and their annotations;
    ``broken`` is listed but its file is not an image."""
    data = json.loads((coco_root / "annotations" / "instances_val2017.json").read_text())
    keep = set(images) | ({broken} if broken else set())
    data["images"] = [im for im in data["images"] if im["id"] in keep]
    data["images"].sort(key=lambda im: list(images).index(im["id"]) if im["id"] in images else len(images))
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    (root / "val2017").mkdir()
    for im in data["images"]:
        target = root / "val2017" / im["file_name"]
        if im["id"] == broken:
            target.write_bytes(b"not a jpeg")
        else:
            target.symlink_to(coco_root / "val2017" / im["file_name"])
    return root


def args(coco: Path, out: Path, *extra: str) -> list[str]:
    return ["--models", MODEL, "--task", "promptable", "--coco-root", str(coco), "--device", "cpu",
            "--out", str(out), *extra]


def row(out: Path) -> pd.Series:
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 1
    return df.iloc[0]


@pytest.fixture(scope="module")
def coco(coco_root: Path, tmp_path_factory) -> Path:
    return make_coco(tmp_path_factory.mktemp("coco"), coco_root, IMAGES[:3])


@pytest.fixture(scope="module")
def full_run(coco: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full")
    assert main(args(coco, out)) == 0
    return out


def test_run_writes_tidy_results_and_predictions(full_run: Path):
    r = row(full_run)
    assert (r["model"], r["task"], r["dataset"], r["weights"]) == (MODEL, "promptable", "coco-val2017", OFFLINE)
    assert r["protocol"] == "coco-gt-boxes"
    assert r["n_images"] == 3 and r["n_failed"] == 0
    for col in METRICS + ["latency_p50_ms", "latency_p90_ms", "images_per_s", "peak_mem_mb", "forward_p50_ms"]:
        assert pd.notna(r[col]) and r[col] > 0, col
    assert 0 <= r["AR@100"] <= 100 and 0 <= r["mIoU"] <= 100
    assert "synchronize" in r["timing_method"] and "cold" in r["timing_method"] and "all its prompts" in r["note"]
    assert r["device"].startswith("cpu (") and r["torch"] and r["transformers"] and r["date"].startswith("20")
    assert json.loads((full_run / "results.json").read_text())[0]["AR@100"] == pytest.approx(r["AR@100"])
    lines = (full_run / "predictions" / MODEL / "promptable" / "rank0.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [rec["image_id"] for rec in records] == list(IMAGES[:3])
    entry = records[0]["prediction"][0]
    assert {"image_id", "category_id", "segmentation", "score", "ann_id"} <= entry.keys()
    assert sum(rec["cold"] for rec in records) == 1
    lat = pd.read_csv(full_run / "latency.csv")
    assert len(lat) == 3 and set(lat["model"]) == {MODEL}


def test_rescore_gives_the_same_metrics(full_run: Path, tmp_path: Path, coco: Path):
    before = row(full_run)[METRICS]
    assert main(args(coco, full_run, "--rescore")) == 0
    assert row(full_run)[METRICS].tolist() == before.tolist()


def test_interrupted_then_resumed_run_matches(full_run: Path, coco: Path, tmp_path: Path, monkeypatch, capsys):
    calls = {"n": 0}
    real_run = promptable.run

    def interrupted(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_run(*a, **kw)

    monkeypatch.setattr(promptable, "run", interrupted)
    assert main(args(coco, tmp_path)) == 130
    assert "--resume" in capsys.readouterr().err
    pred = tmp_path / "predictions" / MODEL / "promptable" / "rank0.jsonl"
    assert len(pred.read_text().splitlines()) == 1  # the finished image is kept
    with open(pred, "a") as f:
        f.write('{"key": "122745", "ok": tr')  # a line cut short by a kill
    assert main(args(coco, tmp_path)) == 2  # refuses to mix runs without --resume
    monkeypatch.setattr(promptable, "run", real_run)
    assert main(args(coco, tmp_path, "--resume")) == 0
    assert row(tmp_path)[METRICS].tolist() == row(full_run)[METRICS].tolist()
    assert row(tmp_path)["n_images"] == 3


def test_killed_then_resumed_run_matches(full_run: Path, coco: Path, tmp_path: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    pred = tmp_path / "predictions" / MODEL / "promptable" / "rank0.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.run", *args(coco, tmp_path)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and not (pred.is_file() and pred.read_text().count("\n") >= 1):
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no clean-up, as when a job is pre-empted
    proc.wait()
    assert 1 <= len(pred.read_text().splitlines()) and not (tmp_path / "results.csv").exists()
    assert main(args(coco, tmp_path, "--resume")) == 0
    assert row(tmp_path)[METRICS].tolist() == row(full_run)[METRICS].tolist()
    keys = [json.loads(line)["key"] for line in pred.read_text().splitlines()]
    assert sorted(keys) == sorted(map(str, IMAGES[:3]))  # no image run twice


def test_torchrun_two_ranks_match_one_process(full_run: Path, coco: Path, tmp_path: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "benchmarks.run", *args(coco, tmp_path)]
    done = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    pred = tmp_path / "predictions" / MODEL / "promptable"
    assert sorted(p.name for p in pred.glob("rank*.jsonl")) == ["rank0.jsonl", "rank1.jsonl"]
    sharded = row(tmp_path)
    assert sharded["world_size"] == 2 and sharded["n_images"] == 3
    assert sharded[METRICS].tolist() == row(full_run)[METRICS].tolist()


def test_interactive_task_takes_clicks(coco: Path, tmp_path: Path):
    argv = args(coco, tmp_path, "--clicks", "2", "--limit", "1")
    argv[argv.index("promptable")] = "interactive"
    assert main(argv) == 0
    r = row(tmp_path)
    assert r["task"] == "interactive" and r["n_images"] == 1 and r["instances"] == 1
    assert r["protocol"] == "coco-gt-clicks"
    # a correction click may lower the IoU (the protocol does not promise more): only the range is checked
    assert 0 <= r["mIoU@1"] <= 100 and 0 <= r["mIoU@2"] <= 100 and 0 <= r["box mIoU"] <= 100 and 1 <= r["NoC@90"] <= 2
    assert "mIoU@3" not in r.index and "2 simulated clicks" in r["note"]


def test_random_init_rows_are_marked_and_unscored(coco_root: Path, tmp_path: Path):
    assert main(["--models", "segformer-b0-ade", "--task", "semantic", "--random-init", "--limit", "1",
                 "--coco-root", str(coco_root), "--device", "cpu", "--out", str(tmp_path)]) == 0
    r = row(tmp_path)
    assert (r["model"], r["weights"], r["n_images"]) == ("segformer-b0-ade (random-init)", RANDOM, 1)
    assert "mIoU" not in r.index and r["latency_p50_ms"] > 0
    assert r["protocol"] == "segformer-ade-512"  # the model's own protocol, whatever the weights
    assert (tmp_path / "predictions" / "segformer-b0-ade (random-init)" / "semantic" / "rank0.jsonl").is_file()
    assert set(pd.read_csv(tmp_path / "latency.csv")["model"]) == {r["model"]}


@pytest.mark.parametrize("model_id, model_class", [("sam-hq-vit-base", "SamHQModel"),
                                                   ("sam2.1-hiera-tiny", "Sam2Model")])
def test_random_init_builds_the_sam_families_in_their_checkpoint_layout(model_id, model_class, tmp_path: Path):
    adapter = seglab.load_model(model_id, location=save_random_weights(seglab.get_spec(model_id), tmp_path))
    assert type(adapter.model).__name__ == model_class
    with pytest.raises(BenchmarkInputError, match="Hiera-T only"):
        save_random_weights(seglab.get_spec("sam2.1-hiera-large"), tmp_path / "large")


def test_image_that_fails_to_decode_is_a_failure_record(coco_root: Path, tmp_path: Path):
    broken_coco = make_coco(tmp_path / "coco", coco_root, IMAGES[:1], broken=IMAGES[3])
    assert main(args(broken_coco, tmp_path / "out")) == 0
    r = row(tmp_path / "out")
    assert r["n_images"] == 1 and r["n_failed"] == 1
    lines = (tmp_path / "out" / "predictions" / MODEL / "promptable" / "rank0.jsonl").read_text().splitlines()
    failed = [json.loads(line) for line in lines if not json.loads(line)["ok"]]
    assert failed[0]["image_id"] == IMAGES[3] and "InvalidImageError" in failed[0]["error"]


@pytest.mark.parametrize("change, message", [
    ({"--models": "no-such-model"}, "unknown model"),
    ({"--models": "fcn-resnet50"}, "semantic model"),
    ({"--task": "no-such-task"}, "unknown task"),
    ({"--limit": "0"}, "--limit"),
    ({"--batch-size": "2", "--task": "depth", "--models": "depth-pro"}, "--batch-size"),
    ({"--random-init": None}, "ships its weights"),
    ({"--task": "interactive", "--clicks": "0"}, "--clicks"),
    ({"--dataset": "cityscapes"}, "the promptable benchmark runs on coco, not --dataset cityscapes"),
    ({"--task": "depth", "--models": "depth-pro", "--dataset": "coco"}, "runs on nyu, not --dataset coco"),
    ({"--task": "panoptic", "--models": "mask2former-swin-large-cityscapes-panoptic"},
     "predicts its own label set, not coco's"),
    ({"--weights": "no-equals-sign"}, "--weights takes MODEL=PATH, not 'no-equals-sign'"),
    ({"--weights": "sam-vit-base=."}, "--weights names sam-vit-base, which is not in --models"),
    ({"--weights": f"{MODEL}=/no/such/weights"}, f"the weights of {MODEL} are not at /no/such/weights"),
])
def test_bad_arguments_exit_2(coco: Path, tmp_path: Path, capsys, change: dict[str, str | None], message: str):
    argv = args(coco, tmp_path)
    for flag, value in change.items():
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag] if value is None else [flag, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_or_malformed_annotations_exit_2(coco_root: Path, tmp_path: Path, capsys):
    root = make_coco(tmp_path / "coco", coco_root, IMAGES[:1])
    ann = root / "annotations" / "instances_val2017.json"
    ann.write_text("{not json")
    assert main(args(root, tmp_path / "out")) == 2
    assert "not valid JSON" in capsys.readouterr().err
    ann.unlink()
    assert main(args(root, tmp_path / "out")) == 2
    assert "instances_val2017.json is missing" in capsys.readouterr().err
    assert main(args(tmp_path / "nowhere", tmp_path / "out")) == 2
    assert "not a COCO 2017 folder" in capsys.readouterr().err


def test_plot_turns_a_run_into_an_html_report(full_run: Path, tmp_path: Path):
    from benchmarks import plot

    assert plot.main([str(full_run), "--out", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text()
    assert MODEL in page and "AR@100" in page and "synchronize" in page


def test_weights_flag_loads_a_local_model_and_scoring_streams_without_reading_back(coco_root: Path, tmp_path: Path,
                                                                                   monkeypatch):
    model = "mask2former-swin-tiny-coco-panoptic"
    weights = save_tiny_models(tmp_path / "weights", (model,)) / model
    argv = ["--models", model, "--task", "panoptic", "--coco-root", str(coco_root), "--limit", "2",
            "--device", "cpu", "--weights", f"{model}={weights}", "--out", str(tmp_path / "out")]
    real_read = panoptic.read

    def no_read(*a, **kw):
        raise AssertionError("a fresh run decoded a prediction it had just encoded")

    monkeypatch.setattr(panoptic, "read", no_read)
    assert main(argv) == 0
    fresh = row(tmp_path / "out")
    assert fresh["weights"] == "pretrained" and fresh["n_images"] == 2 and 0 <= fresh["PQ"] <= 100
    assert fresh["protocol"] == "mask2former-coco-panoptic"
    monkeypatch.setattr(panoptic, "read", real_read)
    assert main([*argv, "--rescore"]) == 0  # the saved PNGs read back give the same numbers
    assert row(tmp_path / "out")[["PQ", "SQ", "RQ"]].tolist() == fresh[["PQ", "SQ", "RQ"]].tolist()
