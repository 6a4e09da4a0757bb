"""benchmarks.sam_speed on a tiny SAM and a real image: every prompt kind timed against the bare decoder
doing the same work, the results printed and written as JSON (no timing thresholds)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import seglab
from benchmarks import sam_speed


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    return seglab.load_model("sam-vit-base", location=sam_speed.save_random_model(
        "sam-vit-base", tmp_path_factory.mktemp("tiny-sam"), tiny=True))


def test_bare_decoder_does_the_same_work_as_seglab(tiny_sam, coco_image):
    embedding = tiny_sam.embed(coco_image)
    for kind, prompts in sam_speed.prompt_kinds(*coco_image.shape[:2]).items():
        inputs = [sam_speed.decoder_inputs(tiny_sam, embedding, p) for p in prompts]
        bare = sam_speed.run_decoder(tiny_sam.model, embedding, inputs)
        ours = sam_speed.run_seglab(tiny_sam, coco_image, prompts)
        np.testing.assert_allclose(bare[0, 0].numpy(), ours, rtol=1e-5, atol=1e-5, err_msg=kind)


def test_main_times_every_kind_and_writes_json(coco_image_path: Path, tmp_path, capsys):
    out = tmp_path / "speed.json"
    result = sam_speed.main(["--tiny", "--repeats", "2", "--warmup", "0", "--embed-repeats", "1",
                             "--points-per-side", "2", "--image", str(coco_image_path), "--json", str(out)])
    printed = capsys.readouterr().out
    assert json.loads(out.read_text()) == result
    assert set(result["kinds"]) == {"click", "box", "refine (3 clicks)"}
    for kind in result["kinds"].values():
        assert kind["p50_ms"] <= kind["p90_ms"] and kind["decoder"]["p50_ms"] <= kind["decoder"]["p90_ms"]
        assert kind["overhead_ratio"] == pytest.approx(kind["p50_ms"] / kind["decoder"]["p50_ms"])
        assert kind["cold_ms"] > 0 and kind["decoder"]["cold_ms"] > 0
    assert f"click-to-mask p50 {result['kinds']['click']['p50_ms']:.1f} ms" in printed
    assert "decoder alone" in printed and "embedding p50" in printed
    everything = result["everything"]
    assert (everything["points"], everything["batches"]) == (4, 1)
    assert everything["seconds"] > 0 and everything["estimate_seconds"] > 0
    assert result["weights"] == "random (latency only)" and result["machine"]["torch_threads"] >= 1
    click = result["kinds"]["click"]
    assert result["targets"]["met"] == (click["p50_ms"] <= sam_speed.TARGET_CLICK_P50_MS
                                        and click["overhead_ratio"] <= 1 + sam_speed.TARGET_OVERHEAD)


@pytest.mark.parametrize("argv", [["--tiny", "--model", "sam2.1-hiera-tiny"], ["--repeats", "0"],
                                  ["--model", "sam-vit-huge"], ["--against-official", "--model", "sam2.1-hiera-tiny"],
                                  ["--model", "sam3"]])
def test_bad_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sam_speed.main(argv)
    assert exit_info.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.parametrize("model_id", ["sam-vit-base", "sam-hq-vit-base"])
def test_against_official_prints_every_ratio(model_id, coco_image_path: Path, tmp_path, capsys):
    pytest.importorskip(sam_speed.sam_official.OFFICIAL[seglab.get_spec(model_id).family],
                        reason="the official package (requirements-dev.txt)")
    out = tmp_path / "official.json"
    result = sam_speed.main(["--against-official", "--model", model_id, "--tiny", "--repeats", "2",
                             "--embed-repeats", "1", "--points-per-side", "4", "--image", str(coco_image_path),
                             "--json", str(out)])
    printed = capsys.readouterr().out
    assert json.loads(out.read_text()) == result
    for name in ("embedding", "click-to-mask", "everything", "everything_masks"):
        row = result[name]
        assert row["ratio_median"] == pytest.approx(row["official_median_s"] / row["seglab_median_s"])
        assert row["seglab_min_s"] <= row["seglab_median_s"] and row["official_min_s"] <= row["official_median_s"]
    ratio_lines = [line for line in printed.splitlines() if "official/seglab" in line]
    assert [line.split(":")[0] for line in ratio_lines] == [
        "embedding", "click-to-mask", "segment everything (4x4, defaults, after the embedding)",
        "segment everything (4x4, stability 0.5, after the embedding)"]
    assert "FastSAM" in printed and "not timed" in printed
    assert result["device"] == "cpu" and f"{model_id} vs " in printed and " on cpu," in printed
    for name in ("everything", "everything_masks"):  # the same weights give the same masks
        masks = result[name]["masks"]
        assert masks["seglab"] == masks["official"] and result[name]["matched_min_iou"] >= 0.99
    if model_id == "sam-vit-base":  # the tiny random SAM-HQ passes no stability filter on a 4x4 grid
        assert result["everything_masks"]["masks"]["seglab"] > 0
    pipe = result["pipeline"]
    assert pipe["ratio"] == pytest.approx(pipe["pipeline_s"] / pipe["seglab_s"])


def test_against_official_sam3_prints_both_sides_and_ratios(coco_image_path: Path, tmp_path, capsys):
    pytest.importorskip("sam3.model_builder", reason="the official sam3 package (requirements-dev.txt)")
    out = tmp_path / "official_sam3.json"
    result = sam_speed.main(["--against-official", "--model", "sam3", "--tiny", "--repeats", "1",
                             "--embed-repeats", "1", "--image", str(coco_image_path), "--json", str(out)])
    printed = capsys.readouterr().out
    assert json.loads(out.read_text()) == result
    assert (result["model"], result["small"], result["device"], result["text"]) == ("sam3", True, "cpu", "cat")
    for name in ("embedding", "text_prompt", "click"):
        row = result[name]
        assert row["ratio_min"] == pytest.approx(row["official_min_s"] / row["seglab_min_s"])
        assert row["ratio_median"] == pytest.approx(row["official_median_s"] / row["seglab_median_s"])
        assert row["seglab_min_s"] > 0 and row["official_min_s"] > 0
    assert set(result["text_prompt"]["instances"]) == {"seglab", "official"}
    ratio_lines = [line for line in printed.splitlines() if "official/seglab" in line]
    assert [line.split(":")[0] for line in ratio_lines] == [
        "embedding", "text prompt ('cat', on the embedding)", "click (on the embedding)"]
    assert all("seglab " in line and "official " in line for line in ratio_lines)
    assert "sam3 vs sam3 (official) on cpu, same random weights (small)" in printed
