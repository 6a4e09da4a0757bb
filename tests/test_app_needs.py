"""What each tab says it needs (its first line) and its "Download weights" button, as plain handlers: offline
(the tests' HF_HUB_OFFLINE=1) and online with the Hub's API and ``seglab.download`` replaced by fakes."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest
from huggingface_hub.utils import tqdm as hub_tqdm

import seglab
from ui import build_demo, common, weights
from ui.common import ModelSource

EMBEDDED = "embedded-u2netp-grabcut"


@pytest.fixture
def nothing_here(monkeypatch):
    """A machine with no weights downloaded: only the offline models can run."""
    monkeypatch.setattr(seglab, "is_available", lambda model_id: seglab.get_spec(model_id).offline)


@pytest.fixture
def online(monkeypatch):
    """The Hub reachable; its API answers with two files per repo and counts the calls."""
    calls = []

    def model_info(self, repo, files_metadata=False, timeout=None):
        calls.append(repo)
        return SimpleNamespace(siblings=[SimpleNamespace(size=1_200_000_000), SimpleNamespace(size=None)])

    monkeypatch.setattr(weights, "is_offline_mode", lambda: False)
    monkeypatch.setattr(common, "is_offline_mode", lambda: False)
    monkeypatch.setattr("huggingface_hub.HfApi.model_info", model_info)
    monkeypatch.setattr(weights, "_sizes", {})
    return calls


def ids(task: str) -> list[str]:
    return [s.id for s in seglab.list_models(task)]


def test_offline_a_tab_without_weights_says_so_with_the_command_and_its_button_is_disabled(nothing_here):
    needs = weights.Needs(ModelSource(), "semantic")
    button, line = needs.refresh("deeplabv3-mobilenet-v3-large")
    assert line == ("⚠️ No semantic model can run here yet. **deeplabv3-mobilenet-v3-large** is not downloaded and "
                    "the Hub is offline: on a machine with internet run "
                    "`python -m seglab download deeplabv3-mobilenet-v3-large`.")
    assert button["visible"] and not button["interactive"] and button["value"] == weights.OFFLINE_LABEL


def test_a_tab_with_runnable_models_names_them_and_hides_the_button_for_one_that_is_here(nothing_here):
    here = [m for m in ids("promptable") if seglab.get_spec(m).offline]
    button, line = weights.button_state(ModelSource(), EMBEDDED), weights.needs_line(ModelSource(), "promptable",
                                                                                      EMBEDDED)
    more = f" and {len(here) - weights.SHOWN} more" if len(here) > weights.SHOWN else ""
    assert line == (f"✅ {len(here)} of {len(ids('promptable'))} promptable models can run here: "
                    f"{', '.join(here[:weights.SHOWN])}{more}.")
    assert button == gr.update(visible=False)
    missing = weights.needs_line(ModelSource(), "promptable", "sam-vit-huge")
    assert missing.startswith(line) and "`python -m seglab download sam-vit-huge`" in missing


def test_online_the_line_gives_the_download_size_from_the_hub_once_and_lazily(nothing_here, online):
    build_demo()
    assert online == []  # building the app asks the Hub nothing
    line = weights.needs_line(ModelSource(), "depth", "depth-anything-v2-small")
    assert line.endswith("**depth-anything-v2-small** downloads its weights "
                         "(`depth-anything/Depth-Anything-V2-Small-hf`, 1.2 GB) on its first run, "
                         "or now with *Download weights*.")
    weights.needs_line(ModelSource(), "depth", "depth-anything-v2-small")
    assert online == ["depth-anything/Depth-Anything-V2-Small-hf"]  # asked once, then kept
    button = weights.button_state(ModelSource(), "depth-anything-v2-small")
    assert button["visible"] and button["interactive"] and button["value"] == weights.LABEL


def test_a_hub_that_does_not_answer_leaves_the_size_out(nothing_here, online, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", unreachable)
    line = weights.needs_line(ModelSource(), "depth", "depth-anything-v2-small")
    assert "(`depth-anything/Depth-Anything-V2-Small-hf`) on its first run" in line


def test_download_fetches_the_weights_with_progress_then_the_tab_can_run_it(nothing_here, online, monkeypatch):
    fetched = []

    def download(model_id):
        for _ in hub_tqdm(range(3), desc="model.safetensors"):  # what the Hub's downloads report through
            pass
        fetched.append(model_id)
        return [seglab.get_spec(model_id).weights]

    monkeypatch.setattr(seglab, "download", download)
    monkeypatch.setattr(seglab, "is_available", lambda m: seglab.get_spec(m).offline or m in fetched)
    needs = weights.Needs(ModelSource(), "depth")
    steps = []
    button, model, line = needs.download("depth-anything-v2-small", progress=lambda *a, **k: steps.append(k))
    assert fetched == ["depth-anything-v2-small"] and steps == [{"desc": "Downloading "
                                                                         "depth-anything/Depth-Anything-V2-Small-hf"}]
    assert button == gr.update(visible=False) and line.startswith("✅ 1 of ")
    assert ("depth-anything-v2-small", "depth-anything-v2-small") in model["choices"]  # no "(download needed)"


def test_download_offline_or_failing_says_why_and_keeps_the_tab(nothing_here, online, monkeypatch):
    def broken(model_id):
        raise ConnectionError("Connection reset by peer\nmore lines")

    monkeypatch.setattr(seglab, "download", broken)
    warned = []
    monkeypatch.setattr(common.gr, "Warning", warned.append)
    needs = weights.Needs(ModelSource(), "depth")
    *kept, status = needs.download("depth-pro", progress=lambda *a, **k: None)
    assert all(k == gr.skip() for k in kept)
    assert status == "⚠️ downloading apple/DepthPro-hf failed: ConnectionError: Connection reset by peer"
    monkeypatch.setattr(weights, "is_offline_mode", lambda: True)
    *_, status = needs.download("depth-pro", progress=lambda *a, **k: None)
    assert status.endswith("on a machine with internet run `python -m seglab download depth-pro`")


def test_run_is_disabled_saying_why_while_the_model_cannot_run_here(nothing_here):
    blocked = weights.run_state(ModelSource(), "deeplabv3-mobilenet-v3-large", "Run")
    assert blocked == gr.update(interactive=False, value=f"Run {weights.BLOCKED}")
    assert "the Hub is offline" in weights.BLOCKED
    assert weights.run_state(ModelSource(), EMBEDDED, "Run") == gr.update(interactive=True, value="Run")
    assert weights.run_state(ModelSource(), "not-a-model", "Run")["interactive"]  # the run names close matches


def test_run_is_enabled_online_where_the_first_run_downloads(nothing_here, online):
    assert weights.run_state(ModelSource(), "depth-pro", "Estimate depth") == gr.update(interactive=True,
                                                                                        value="Estimate depth")


def run_wiring(demo: gr.Blocks, button_id: str) -> dict[str, object]:
    """{trigger: handler} of the events that set the Run button ``button_id``: "load", "change" (its model list)
    and "then" (after a download)."""
    button = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == button_id)
    found = {}
    for dep in demo.fns.values():
        if button in dep.outputs:
            for block, event in dep.targets:
                found["then" if block is None and event == "then" else event] = dep.fn
    return found


@pytest.mark.parametrize("task, run_id, label, missing", [
    ("semantic", "semantic-run", "Run", "segformer-b5-ade"),
    ("part", "part-run", "Run", "segformer-b5-face-parsing"),
    ("depth", "depth-run", "Estimate depth", "depth-pro")])
def test_each_tab_wires_its_run_button_to_its_model_list_and_the_download(nothing_here, monkeypatch, task, run_id,
                                                                          label, missing):
    demo = build_demo()
    handlers = run_wiring(demo, run_id)
    assert set(handlers) >= {"load", "change"} and len(handlers) == 3
    for fn in handlers.values():
        assert fn(missing) == gr.update(interactive=False, value=f"{label} {weights.BLOCKED}")
    monkeypatch.setattr(seglab, "is_available", lambda model_id: model_id == missing)  # now downloaded
    assert all(fn(missing) == gr.update(interactive=True, value=label) for fn in handlers.values())
