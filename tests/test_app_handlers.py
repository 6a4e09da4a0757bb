"""The app's handlers as plain functions: the offline default model and tiny random models read from
the app's weights folder (``<folder>/<model-id>/``), on real COCO images."""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest
from app_weights import save_tiny_models
from PIL import Image

import seglab
from seglab.render import depth_colorbar
from ui import common, dense, depth
from ui.common import GENERIC_ERROR, ModelSource, parse_prompt, prompt_json
from ui.segment import EVERYTHING_SETTINGS, MODES, SegmentHandlers, SegmentSession
from ui.session import VIEW_SIDE

EMBEDDED = "embedded-u2netp-grabcut"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> ModelSource:
    return ModelSource(save_tiny_models(tmp_path_factory.mktemp("weights")))


@pytest.fixture(scope="module")
def handlers(source) -> SegmentHandlers:
    return SegmentHandlers(source)


@pytest.fixture(scope="module")
def loaded(handlers, coco_image_path) -> SegmentSession:
    return handlers.new_image(str(coco_image_path))[0]


def click(handlers, session, x, y, mode=MODES[0], model=EMBEDDED, autorun=True):
    return handlers.click(session, mode, model, "", autorun, gr.SelectData(None, {"index": [x, y], "value": None}))


def skipped(outputs) -> bool:
    """Every output but the status line left as it was (gr.skip())."""
    return all(isinstance(o, dict) and o.get("__type__") == "update" and len(o) == 1 for o in outputs[:-1])


def test_new_image_starts_a_session_and_fills_the_editor(handlers, coco_image_path, coco_image):
    session, view, prompt, picks, files, editor, _, status = handlers.new_image(str(coco_image_path), EMBEDDED)
    assert np.array_equal(session.image, coco_image) and session.steps == ()
    assert view.shape == coco_image.shape and prompt == "" and files is None
    assert np.array_equal(editor["background"], coco_image)
    assert status == "Preparing the image for **embedded-u2netp-grabcut**…"
    assert handlers.prepare(session, "sam-vit-base").startswith("Click on the image to add a point. "
                                                                "**sam-vit-base** prepared the image in ")


def test_click_adds_a_point_in_image_pixels_and_shows_a_mask(handlers, loaded):
    session, view, prompt, picks, files, status = click(handlers, loaded, 420, 150)
    assert json.loads(prompt) == {"points": [[420.0, 150.0]], "labels": [1]}
    assert len(session.result) == 1 and session.result.masks[0].any()
    assert view.shape == loaded.image.shape and files is None  # downloads are written when asked
    assert not np.array_equal(view[150, 420], loaded.image[150, 420])  # the marker sits on the clicked pixel
    written = handlers.downloads(session, None)
    assert {Path(f).name for f in written} >= {"segment.json", "segment_mask.png", "segment_overlay.png"}
    assert EMBEDDED in status and "ms" in status and "1 mask, score " in status


def test_a_large_image_is_drawn_at_display_size_and_clicks_map_back_to_image_pixels(handlers, coco_image,
                                                                                     tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(cv2.resize(coco_image, (3200, 2135))).save(big)
    session, view, *_ = handlers.new_image(str(big))
    assert max(view.shape[:2]) == VIEW_SIDE and session.image.shape[:2] == (2135, 3200)
    scale = VIEW_SIDE / 3200
    session, view, prompt, *_ = click(handlers, session, 420 * 5 * scale, 150 * 5 * scale)
    assert json.loads(prompt)["points"] == [[pytest.approx(2100, abs=1), pytest.approx(750, abs=1)]]
    assert session.result.image_size == (2135, 3200) and max(view.shape[:2]) == VIEW_SIDE


def test_two_clicks_make_a_box_and_undo_goes_back_step_by_step(handlers, loaded):
    s = click(handlers, loaded, 300, 60, MODES[1], autorun=False)[0]
    s, _, _, _, _, status = click(handlers, s, 500, 300, MODES[2], autorun=False)
    assert s.corner == (500.0, 300.0) and "opposite corner" in status
    s, _, prompt, *_ = click(handlers, s, 200, 100, MODES[2], autorun=False)
    assert json.loads(prompt) == {"points": [[300.0, 60.0]], "labels": [0], "boxes": [[200.0, 100.0, 500.0, 300.0]]}
    s, _, prompt, *_ = handlers.undo(s, EMBEDDED, "", False)
    assert json.loads(prompt) == {"points": [[300.0, 60.0]], "labels": [0]}
    cleared = handlers.clear(s)[0]
    assert cleared.steps == () and cleared.result is None and cleared.key == s.key


def test_sessions_never_share_prompts_or_masks(handlers, loaded, coco_root):
    other = handlers.new_image(str(coco_root / "val2017" / "000000555705.jpg"))[0]
    a = click(handlers, loaded, 420, 150)[0]
    assert other.steps == () and other.result is None and loaded.steps == () and loaded.result is None
    b = click(handlers, other, 100, 100, autorun=False)[0]
    assert a.steps == (("point", (420.0, 150.0, 1)),) and b.steps == (("point", (100.0, 100.0, 1)),)


def test_segment_endpoint_takes_json_and_multimask_outputs_can_be_picked(handlers, coco_image_path):
    session, view, prompt, picks, files, status = handlers.segment(
        str(coco_image_path), '{"points": [[320, 200]]}', "sam-vit-base", "")
    assert len(session.result) == 3 and picks["visible"]
    assert [c[1] for c in picks["choices"]] == ["all", "0", "1", "2"]  # whole, part, subpart
    assert picks["value"] == str(int(np.argmax(session.result.scores)))  # the best score drawn first
    shown_all, _ = handlers.show(session, "all")
    shown_one, dropped = handlers.show(session, "2")
    assert not np.array_equal(shown_all, shown_one) and dropped is None
    assert len(handlers.downloads(session, "2")) >= 2
    again = handlers.prompt(session, '{"boxes": [[100, 50, 500, 400]]}', "sam-vit-base", "")[0]
    assert again.key == session.key  # the session's image is used again, not read again


def test_editor_layers_become_a_region_and_a_box_shown_in_the_prompt_box(handlers, loaded):
    h, w = loaded.image.shape[:2]
    region, box = np.zeros((h, w, 4), np.uint8), np.zeros((h, w, 4), np.uint8)
    region[100:140, 300:380, 3] = 255
    box[50:52, 100:400, 3] = 255  # a drag from (100, 50) to (400, 52)
    box[50:300, 398:400, 3] = 255
    s, _, prompt, *_, editor = handlers.from_editor(loaded, {"layers": [region, box]}, EMBEDDED, "", False)
    assert json.loads(prompt.splitlines()[0])["boxes"] == [[100.0, 50.0, 400.0, 300.0]]
    assert prompt.splitlines()[1].startswith("brushed region: box [300, 100, 380, 140], 3200 px")
    assert s.prompt().region.sum() == 40 * 80 and editor["layers"] == []  # the strokes are cleared
    s, _, again, *_ = handlers.prompt(s, prompt, EMBEDDED, "")  # the summary line is not read as JSON
    assert again == prompt and s.prompt().region.sum() == 40 * 80


@pytest.mark.parametrize("image, prompt, model, message", [
    (None, '{"points": [[1, 1]]}', EMBEDDED, "no image"),
    ("COCO", "{points", EMBEDDED, "not valid JSON"),
    ("COCO", '{"boxes": [[700, 400, 900, 600]]}', EMBEDDED, "box (700, 400, 900, 600) lies outside the 640x427 image"),
    ("COCO", '{"points": [[9999, 5]]}', EMBEDDED, "outside the 640x427 image"),
    ("COCO", "", EMBEDDED, "no prompt"),
    ("COCO", '{"points": [[5, 5]]}', "sam-vit-bsae", "did you mean sam-vit-base"),
    ("COCO", '{"points": [[5, 5]]}', "sam-vit-large", "python -m seglab download sam-vit-large"),
    ("COCO", '{"points": [[5, 5]]}', "segformer-b0-ade",
     f"segformer-b0-ade is a semantic model, not promptable; promptable models here: {EMBEDDED}, "),
    ("CORRUPT", '{"points": [[5, 5]]}', EMBEDDED, "broken.jpg is not an image file"),
])
def test_bad_input_is_one_sentence_and_the_work_stays(handlers, coco_image_path, tmp_path, monkeypatch, image,
                                                      prompt, model, message):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8 this is not a jpeg")
    path = {"COCO": str(coco_image_path), "CORRUPT": str(corrupt), None: None}[image]
    warned = []
    monkeypatch.setattr(common.gr, "Warning", warned.append)
    outputs = handlers.segment(path, prompt, model, "")  # from a browser: outputs kept, a warning and a status
    assert skipped(outputs) and message in outputs[-1] and warned == [outputs[-1].removeprefix("⚠️ ")]
    monkeypatch.setattr(common, "from_api", lambda: True)  # from gradio_client: an error
    with pytest.raises(gr.Error, match=re.escape(message)):
        handlers.segment(path, prompt, model, "")


def test_a_failure_inside_a_model_is_logged_and_shown_short(handlers, coco_image_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA exploded")

    monkeypatch.setattr(seglab, "predict", broken)
    monkeypatch.setattr(common, "from_api", lambda: True)
    with caplog.at_level(logging.ERROR, logger="seglab.app"), pytest.raises(gr.Error) as err:
        handlers.segment(str(coco_image_path), '{"points": [[5, 5]]}', EMBEDDED, "")
    assert err.value.message == GENERIC_ERROR and "CUDA exploded" in caplog.text


def test_prompt_json_round_trips():
    prompt = parse_prompt('{"points": [[1.5, 2], [3, 4]], "labels": [1, 0], "boxes": [[0, 0, 10, 10]]}', "cat")
    assert prompt.text == "cat" and prompt.point_labels.tolist() == [1, 0]
    assert parse_prompt(prompt_json(prompt)).boxes.tolist() == [[0, 0, 10, 10]]
    with pytest.raises(seglab.InvalidPromptError, match="unknown prompt keys"):
        parse_prompt('{"point": [1, 2]}')


@pytest.mark.parametrize("text, msg", [('{"points": 5}', r"^a point is \[x, y\]: got 1 number in 5$"),
                                       ('{"boxes": [[8, 55]]}', r"^a box is \[x0, y0, x1, y1\]: got 2 numbers"),
                                       ('{"text": 5}', r'^the prompt\'s "text" must be a string such as "cat", not 5$')])
def test_a_malformed_prompt_says_what_form_it_needs(text, msg):
    with pytest.raises(seglab.InvalidPromptError, match=msg):
        parse_prompt(text)


def test_model_lists_mark_missing_weights_and_preselect_what_runs(source, monkeypatch):
    choices = {v: k for k, v in source.choices("promptable")}
    assert choices[EMBEDDED] == EMBEDDED and choices["sam-vit-base"] == "sam-vit-base"
    assert choices["sam-vit-huge"].endswith("(download needed)")
    monkeypatch.setattr(seglab, "is_available", lambda model_id: seglab.get_spec(model_id).offline)  # empty cache
    assert source.preselect("promptable") == EMBEDDED  # HF_HUB_OFFLINE=1 (conftest)
    assert source.preselect("depth") == "depth-anything-v2-metric-indoor-small"
    assert ModelSource().preselect("depth") == "depth-anything-v2-small"  # nothing here: the lightest to download
    assert ModelSource().preselect("semantic") == "deeplabv3-mobilenet-v3-large"
    monkeypatch.setattr(common, "is_offline_mode", lambda: False)
    assert source.preselect("promptable") == "sam-vit-base"  # the Hub reachable and SAM's weights here
    assert ModelSource().preselect("promptable") == EMBEDDED


def test_choosing_a_model_without_weights_says_what_happens(source, monkeypatch):
    said = []
    monkeypatch.setattr(common.gr, "Warning", lambda message: said.append(("warning", message)))
    monkeypatch.setattr(common.gr, "Info", lambda message: said.append(("info", message)))
    common.warn_if_missing(source, "sam-vit-base")  # its weights are here: nothing to say
    common.warn_if_missing(source, "sam-vit-huge")  # offline (conftest): how to get them
    monkeypatch.setattr(common, "is_offline_mode", lambda: False)
    common.warn_if_missing(source, "sam-vit-huge")  # online: the first run downloads them
    assert said == [
        ("warning", "sam-vit-huge: weights for 'facebook/sam-vit-huge' are not downloaded and the Hub is offline. "
                    "On a machine with internet run `python -m seglab download sam-vit-huge`."),
        ("info", "sam-vit-huge: the first run downloads its weights (facebook/sam-vit-huge); "
                 "later runs use the cache."),
    ]


@pytest.mark.parametrize("task, model", [("semantic", "segformer-b0-ade"),
                                         ("instance", "mask2former-swin-tiny-coco-instance"),
                                         ("panoptic", "mask2former-swin-tiny-coco-panoptic"),
                                         ("part", "segformer-b5-face-parsing")])
def test_dense_tabs_annotate_the_whole_image(source, coco_image_path, coco_image, task, model):
    threshold = 0.0 if task in dense.THRESHOLD else None
    shown, files, status = dense.run(source, task, str(coco_image_path), model, threshold)
    image, pairs = shown.value["image"], shown.value["annotations"]
    assert image is not None and model in status
    assert all(label in shown.color_map for label in (a["label"] for a in pairs))
    assert {"semantic": "_labels.png", "instance": ".json", "panoptic": "_panoptic.png",
            "part": "_labels.png"}[task] in " ".join(files)
    assert "test protocol " + seglab.get_spec(model).protocol in status


def test_instance_threshold_keeps_only_confident_masks(source, coco_image_path):
    low = dense.run(source, "instance", str(coco_image_path), "mask2former-swin-tiny-coco-instance", 0.0)
    high = dense.run(source, "instance", str(coco_image_path), "mask2former-swin-tiny-coco-instance", 1.0)
    assert len(high[0].value["annotations"]) == 0 < len(low[0].value["annotations"])


def test_a_model_of_another_task_is_refused_and_the_last_result_stays(source, coco_image_path):
    outputs = dense.run(source, "semantic", str(coco_image_path), "depth-anything-v2-metric-indoor-small")
    assert skipped(outputs) and "is a depth model, not semantic; semantic models here: " in outputs[-1]
    outputs = depth.run(source, str(coco_image_path), "segformer-b0-ade")
    assert skipped(outputs) and "is a semantic model, not depth" in outputs[-1]


def test_annotations_give_every_segment_its_own_legend_entry():
    labels = np.array([[0, 0, 1], [2, 2, 1]], np.int32)
    pairs, colours = dense.annotations(seglab.SemanticMap(labels, ("wall", "sky", "cat")))
    assert sorted(label for _, label in pairs) == ["cat", "sky", "wall"] and len(set(colours.values())) == 3
    masks = seglab.Masks(np.stack([labels == 0, labels == 1]), [0.9, 0.8], labels=[1, 1], class_names={1: "cat"})
    assert [label for _, label in dense.annotations(masks)[0]] == ["cat 0.90", "cat 0.80"]


def test_metric_depth_gives_colour_bar_range_and_point_cloud(source, nyu_root):
    image = nyu_root / "image_0.png"
    shown, info, cloud, files, status = depth.run(source, str(image), "depth-anything-v2-metric-indoor-small")
    rgb = seglab.load_image(image)
    assert shown.shape[0] == rgb.shape[0] and shown.shape[1] > rgb.shape[1]  # the colour bar on the right
    assert info.startswith("Metric depth") and " m to " in info
    assert cloud.visible and cloud.value["path"].endswith(".ply")
    assert any(f.endswith("_depth16.png") for f in files) and any(f.endswith(".ply") for f in files)


def test_depth_colorbar_runs_from_near_to_far():
    d = np.linspace(1, 5, 100, dtype=np.float32).reshape(10, 10)
    bar = depth_colorbar(seglab.DepthMap(d, "metric"), 200)
    assert bar.shape[0] == 200
    top, bottom = bar[0, 5].astype(int), bar[-1, 5].astype(int)
    assert top[0] > top[2] and bottom[2] > bottom[0]  # near = warm (red) on top, far = cold (blue) below


def test_segment_everything_gives_its_estimate_first_then_every_mask(handlers, coco_image_path):
    settings = (4, 2, 0.0, 0.0, 0.7, 0, 0)  # the sliders: a 4 x 4 grid, no filtering, one crop
    estimate = handlers.estimate(str(coco_image_path), None, "sam-vit-base", *settings)
    assert estimate.startswith("About **") and " s** with **sam-vit-base**" in estimate
    session, view, prompt, picks, files, status, done = handlers.everything(str(coco_image_path), None,
                                                                            "sam-vit-base", *settings)
    assert 1 <= len(session.result) <= 16 and session.steps == () and prompt == ""
    assert picks["value"] in (None, "all") and not np.array_equal(view, session.image)  # every mask drawn
    assert "everything" in status and done.startswith("Done: ") and files is None
    with pytest.raises(gr.Error, match="did you mean sam-vit-base"):
        handlers.estimate(str(coco_image_path), None, "sam-vit-bsae", *settings)


def test_segment_everything_stops_when_cancelled(handlers, loaded):
    request = gr.Request(session_hash="user-1")

    def press_cancel(*_, **__):  # the user presses Cancel while the first batch is shown
        handlers.cancel(request)

    outputs = handlers.everything(loaded.path, loaded, "sam-vit-base", 16, 2, 0.0, 0.0, 0.7, 0, 0,
                                  request=request, progress=press_cancel)
    # noticed inside the second batch (between its masks), so one batch was done
    assert skipped(outputs[:-1] + (outputs[-2],)) and outputs[-1].startswith("Segment everything cancelled after 1 of ")


def test_everything_slider_defaults_are_the_library_defaults():
    from seglab.everything import EverythingParams

    assert {name: default for name, _, default, *_ in EVERYTHING_SETTINGS} == {
        name: getattr(EverythingParams, name) for name, *_ in EVERYTHING_SETTINGS}


def test_changing_the_model_sets_the_sliders_to_its_familys_defaults(handlers, tmp_path):
    from test_models_sam import save_tiny

    from seglab.everything import default_params

    names = [name for name, *_ in EVERYTHING_SETTINGS]
    sam2 = seglab.load_model("sam2.1-hiera-tiny", location=save_tiny("sam2", tmp_path))  # the adapter's own
    _, *values = handlers.model_changed(SegmentSession(), "sam2.1-hiera-tiny")
    assert dict(zip(names, values)) == {name: getattr(default_params(sam2), name) for name in names}
    assert dict(zip(names, values))["pred_iou_thresh"] == 0.8
    for model_id in ("sam-vit-base", "no-such-model"):  # SAM's own defaults
        _, *values = handlers.model_changed(SegmentSession(), model_id)
        assert dict(zip(names, values)) == {name: default for name, _, default, *_ in EVERYTHING_SETTINGS}
    _, *values = handlers.model_changed(SegmentSession(), "embedded-u2netp-grabcut")  # its scores are no IoU
    assert dict(zip(names, values))["pred_iou_thresh"] == 0.0


def test_a_model_name_typed_in_is_a_warning_not_an_error(handlers, monkeypatch):
    warned = []
    monkeypatch.setattr(gr, "Warning", warned.append)
    status, *_ = handlers.model_changed(SegmentSession(), "sam-vit-bas")
    assert status == "" and len(warned) == 1 and "unknown model 'sam-vit-bas'; did you mean sam-vit-base" in warned[0]


def test_a_click_shows_a_timer_on_the_canvas_and_a_long_run_one_loader_on_its_result():
    from ui import build_demo

    demo = build_demo()
    ids = {elem: i for i, b in demo.blocks.items() if (elem := getattr(b, "elem_id", None))}
    events = {d["api_name"]: d for d in demo.config["dependencies"]}

    def progress(name: str) -> tuple[str, list[int] | None]:
        return events[name]["show_progress"], events[name]["show_progress_on"]

    quick = ("segment_load_image", "segment_click", "segment_prompt", "segment_text", "segment_undo", "segment_clear",
             "segment_pick", "segment_editor", "segment")
    for name in quick:
        assert progress(name) == ("minimal", [ids["segment-canvas"]]), name
    assert progress("segment_everything")[0] == "full"  # seconds long: its own progress bar
    # a new model prepares the image (an embedding: seconds): a timer on the status line, not a loader on each slider
    assert progress("segment_model") == ("minimal", [ids["segment-status"]])
    for name, shown in (("semantic", "semantic-result"), ("instance", "instance-result"),
                        ("panoptic", "panoptic-result"), ("depth", "depth-result"), ("compare", "compare-gallery")):
        # seconds long: the full loader, on the result only (each loader costs the browser CPU while it waits)
        assert progress(name) == ("full", [ids[shown]]), name


# --- segment everything: controls per model, filters on the offline model, cancel, a dropped result ------------
NAMES = [name for name, *_ in EVERYTHING_SETTINGS]


def test_only_the_settings_a_model_uses_are_shown():
    from ui.everything import controls

    *offline, line = controls(EMBEDDED)
    shown = {name for name, update in zip(NAMES, offline) if update["visible"]}
    assert shown == {"pred_iou_thresh", "box_nms_thresh", "min_mask_region_area"}
    assert "its own object proposals" in line and "hidden: points per side, stability score threshold" in line
    *sam, _ = controls("sam-vit-base")
    assert {name for name, update in zip(NAMES, sam) if update["visible"]} == set(NAMES) - {"fallback_points_per_side"}
    *box_only, _ = controls("baseline-grabcut")  # answers single-point prompts: its own coarse grid
    assert {name for name, u in zip(NAMES, box_only) if u["visible"]} == {
        "fallback_points_per_side", "pred_iou_thresh", "box_nms_thresh", "min_mask_region_area"}


@pytest.fixture(scope="module")
def small_photo(coco_image, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("small") / "small.png"
    Image.fromarray(np.ascontiguousarray(coco_image[::3, ::3])).save(path)
    return str(path)


def test_every_shown_setting_changes_the_offline_models_result(handlers, small_photo):
    from ui.everything import slider_defaults

    defaults = dict(zip(NAMES, slider_defaults(EMBEDDED)))

    def run(**changed):
        session, *_, done = handlers.everything(small_photo, None, EMBEDDED, *{**defaults, **changed}.values())
        assert done.startswith("Done: "), done
        return session.result

    plain = run()
    scored = run(pred_iou_thresh=0.5)
    assert len(scored) < len(plain) and (scored.scores >= 0.5).all()
    assert len(run(box_nms_thresh=0.3)) < len(plain) < len(run(box_nms_thresh=0.95))
    cleaned = run(min_mask_region_area=400)
    assert cleaned.masks.tolist() != plain.masks.tolist()  # holes filled, islands removed, duplicates merged


def test_cancel_stops_segment_everything_within_2_s_and_says_so(handlers, coco_image, tmp_path):
    path = tmp_path / "new.png"
    Image.fromarray(np.ascontiguousarray(coco_image[:, ::-1])).save(path)  # a new image: nothing of it cached
    request = gr.Request(session_hash="user-cancel")
    assert handlers.cancel(request) == "Nothing to cancel: segment everything is not running."
    pressed = []

    def press() -> None:
        pressed.append(time.perf_counter())
        assert handlers.cancel(request) == "Cancelling…"

    threading.Timer(1.0, press).start()
    outputs = handlers.everything(str(path), None, EMBEDDED, *dict(zip(NAMES, [32, 3, 0.0, 0.95, 0.7, 0, 0])).values(),
                                  request=request)
    assert pressed and time.perf_counter() - pressed[0] < 2
    assert skipped(outputs) and outputs[-1].startswith("Segment everything cancelled")


def test_a_result_the_store_let_go_is_said_not_hidden(handlers, loaded, monkeypatch):
    from seglab import LRUCache
    import ui.session as session_module

    # no room for 2 masks of 640 x 427
    monkeypatch.setattr(session_module, "STORE", LRUCache(100_000, session_module._size))
    session = loaded.with_result(seglab.Masks(np.ones((2, *loaded.shape), bool), [0.9, 0.8]))
    *_, status = click(handlers, session, 10, 10, autorun=False)
    assert session.result is None and "The last result no longer fits in the server's memory" in status


def test_the_score_setting_is_every_models_score_threshold():
    from ui.everything import everything_params

    params = everything_params(32, 3, 0.4, 0.95, 0.7, 0, 0)
    assert (params.pred_iou_thresh, params.score_thresh) == (0.4, 0.4)


def test_the_segment_button_is_disabled_saying_why_while_the_model_cannot_run_here(monkeypatch):
    from ui import build_demo, weights

    monkeypatch.setattr(seglab, "is_available", lambda model_id: seglab.get_spec(model_id).offline)
    demo = build_demo()
    button = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "segment-run")
    setters = [dep.fn for dep in demo.fns.values() if button in dep.outputs and dep.fn.__name__ == "run_button"]
    assert len(setters) == 3  # page load, model change, after a download
    for fn in setters:
        assert fn("sam-vit-base") == gr.update(interactive=False, value=f"Segment {weights.BLOCKED}")
        assert fn(EMBEDDED) == gr.update(interactive=True, value="Segment")


def test_a_sam_click_names_its_masks_by_level_and_each_level_is_drawn_and_downloaded(handlers, loaded):
    from seglab.levels import LEVELS

    session, view, _, picks, _, _ = click(handlers, loaded, 300, 200, model="sam-vit-base")
    assert session.levelled and len(session.result) == 3
    areas = session.result.masks.reshape(3, -1).sum(1)
    assert list(areas) == sorted(areas, reverse=True)  # whole, part, subpart
    names = [label.split(" · ")[0] for label, _ in picks["choices"][1:]]
    assert names == list(LEVELS) and picks["value"] == str(int(np.argmax(session.result.scores)))
    drawings = []
    for rank, level in enumerate(LEVELS):
        session, view, _, picks, _, _ = handlers.level(session, level)
        assert picks["value"] == str(rank) and session.level == level
        png = next(p for p in handlers.downloads(session, picks["value"]) if p.endswith(".png") and "mask" in p)
        assert (np.asarray(Image.open(png)) > 0).sum() == areas[rank]
        drawings.append(view)
    assert not np.array_equal(drawings[0], drawings[2])  # the whole and the subpart are drawn differently
    again = click(handlers, session.cleared(), 310, 210, model="sam-vit-base")
    assert again[0].level == "subpart" and again[3]["value"] == "2"  # remembered across clicks


def test_the_level_control_is_disabled_saying_why_for_a_model_without_levels():
    from ui.segment import level_state

    assert level_state("sam-vit-base")["interactive"]
    off = level_state(EMBEDDED)
    assert not off["interactive"] and off["info"] == f"{EMBEDDED} answers a click with one mask: no levels"
    assert not level_state("sam-hq-vit-base")["interactive"]


def test_a_rejected_upload_keeps_the_image_in_use_says_why_once_and_prepares_nothing(handlers, loaded, tmp_path,
                                                                                    monkeypatch):
    warnings = []
    monkeypatch.setattr(gr, "Warning", warnings.append)
    fake = tmp_path / "notimage.png"
    fake.write_text("not an image")
    *kept, image, status = handlers.new_image(str(fake), EMBEDDED, "best score", loaded)
    assert all(isinstance(o, dict) and o.get("__type__") == "update" for o in kept)  # session, canvas... stay
    assert image == loaded.path  # the input shows the image in use again
    assert len(warnings) == 1 and status == f"⚠️ {warnings[0]}" and "notimage.png" in status
    assert handlers.prepare(loaded, "sam-vit-base", status) == gr.skip()  # no "prepared" after it
    put_back = handlers.new_image(loaded.path, EMBEDDED, "best score", loaded)  # the input put back: no change
    assert all(o == gr.skip() for o in put_back) and len(warnings) == 1
    none = handlers.new_image(str(fake), EMBEDDED, "best score", SegmentSession())
    assert none[-2] is None  # nothing was in use: the input is emptied


def test_the_level_control_follows_the_result_one_click_or_another_prompt(handlers, loaded, coco_image_path):
    from ui.segment import level_state

    assert level_state("sam-vit-base", loaded)["interactive"]  # no result yet
    one = click(handlers, loaded, 300, 200, model="sam-vit-base")[0]
    assert one.levelled and level_state("sam-vit-base", one)["interactive"]
    for prompt in ('{"boxes": [[100, 50, 500, 400]]}', '{"points": [[300, 200], [420, 150]]}'):
        other = handlers.prompt(loaded, prompt, "sam-vit-base", "")[0]
        off = level_state("sam-vit-base", other)
        assert not other.levelled and not off["interactive"] and "one click's three masks" in off["info"]
    assert level_state("sam-vit-base", one.cleared())["interactive"]  # Clear: a click may follow


def test_the_segment_endpoint_takes_a_level(handlers, coco_image_path, monkeypatch):
    from seglab.levels import LEVELS

    path, prompt = str(coco_image_path), '{"points": [[300, 200]]}'
    best = handlers.segment(path, prompt, "sam-vit-base", "")
    areas = best[0].result.masks.reshape(3, -1).sum(1)
    for rank, level in enumerate(LEVELS):
        session, _, _, picks, _, _ = handlers.segment(path, prompt, "sam-vit-base", "", level)
        assert session.level == level and picks["value"] == str(rank)
        assert session.result.masks[int(picks["value"])].sum() == areas[rank]
    monkeypatch.setattr(common, "from_api", lambda: True)  # from gradio_client: an error naming the choices
    with pytest.raises(gr.Error, match="unknown level 'middle'; choose one of best score, whole, part, subpart"):
        handlers.segment(path, prompt, "sam-vit-base", "", "middle")
