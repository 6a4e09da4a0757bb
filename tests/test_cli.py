"""The CLI, run as a user runs it: models listing on a terminal and a pipe, predict on a real image, clear
errors and exit codes."""
import fcntl
import json
import os
import pty
import shlex
import struct
import subprocess
import sys
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
from app_weights import save_tiny_models
from PIL import Image

from seglab import Masks, PanopticMap, Segment, get_spec
from seglab.cli import build_parser, join_negative_values, main, summary, summary_lines
from seglab.registry import MODELS

ROOT = Path(__file__).resolve().parents[1]
SEGLAB = [sys.executable, "-m", "seglab"]


def run(*args: str, columns: int = 200, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SEGLAB, *args], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=120, env={**os.environ, "COLUMNS": str(columns), **env})


def run_in_terminal(*args: str, columns: int) -> tuple[int, str]:
    """(exit code, stdout) of the CLI writing to a pseudo-terminal ``columns`` wide (no COLUMNS variable)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([*SEGLAB, *args], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the CLI closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks).decode().replace("\r\n", "\n")


def test_models_json_lists_every_task():
    r = run("models", "--json")
    assert r.returncode == 0
    rows = json.loads(r.stdout)
    assert {m["task"] for m in rows} == {"promptable", "semantic", "instance", "panoptic", "part", "depth"}
    assert all({"id", "task", "hub_id", "license", "offline", "published"} <= set(m) for m in rows)
    depth = json.loads(run("models", "--task", "depth", "--json").stdout)
    assert depth and all(m["task"] == "depth" for m in depth)


def test_predict_with_the_offline_default(tmp_path, coco_image_path):
    r = run("predict", "embedded-u2netp-grabcut", str(coco_image_path), "--box", "380,60,520,360",
            "--point", "450,200", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "result.json").read_text())
    assert len(data["masks"]) == 1 and 0 <= data["masks"][0]["score"] <= 1
    mask_line = next(line for line in r.stdout.splitlines() if line.startswith(str(tmp_path / "result_mask.png")))
    assert f"score {data['masks'][0]['score']:.3g}" in mask_line  # the score beside the file that holds the mask
    assert f"{data['masks'][0]['area']} px" in mask_line
    assert (tmp_path / "result_mask.png").exists()
    overlay = np.asarray(Image.open(tmp_path / "result_overlay.png"))
    assert (overlay[200, 380] == [40, 120, 255]).all()  # the box's left edge, drawn as the app draws it
    assert (overlay[200, 450] == [40, 220, 60]).all()  # the positive point's marker


def test_predict_takes_weights_from_a_path(tmp_path, coco_image_path):
    weights = save_tiny_models(tmp_path / "weights", ("sam-vit-base",)) / "sam-vit-base"
    r = run("predict", "sam-vit-base", str(coco_image_path), "--box", "100,50,400,300", "--weights", str(weights),
            "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert len(json.loads((tmp_path / "out" / "result.json").read_text())["masks"]) == 1  # offline: only there


@pytest.mark.parametrize("args,msg", [
    (["predict", "no-such-model", "x.jpg", "--out", "o"], "unknown model"),
    (["predict", "embedded-u2netp-grabcut", "requirements.txt", "--box", "1,1,9,9", "--out", "o"], "not an image"),
    (["predict", "embedded-u2netp-grabcut", "IMG", "--box", "5,5,5,50", "--out", "o"], "zero area"),
    (["predict", "embedded-u2netp-grabcut", "IMG", "--point", "5000,5", "--out", "o"], "outside"),
    (["predict", "embedded-u2netp-grabcut", "IMG", "--out", "o"], "no prompt"),
    (["predict", "sam-vit-base", "IMG", "--box", "1,1,50,50", "--out", "o"], "seglab download sam-vit-base"),
    (["predict", "segformer-b0-ade", "IMG", "--box", "1,1,50,50", "--out", "o"], "takes no --point, --box"),
    (["predict", "sam-vit-base", "IMG", "--box", "1,1,50,50", "--weights", "nowhere", "--out", "o"],
     "--weights nowhere: no such file or folder"),
    (["predict", "embedded-u2netp-grabcut", "IMG", "--text", "dog", "--out", "o"], "does not take text prompts"),
    (["download"], "name a model"),
])
def test_bad_input_gives_one_line_and_exit_2_fast(args, msg, coco_image_path, tmp_path):
    args = [str(coco_image_path) if a == "IMG" else str(tmp_path / "o") if a == "o" else a for a in args]
    start = time.perf_counter()
    r = run(*args)
    assert time.perf_counter() - start < 3  # checked before torch or a model loads (a generous bound)
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_box_syntax_is_an_argparse_error():
    r = run("predict", "embedded-u2netp-grabcut", "x.jpg", "--box", "1,2,3", "--out", "o")
    assert r.returncode == 2 and "needs 4 numbers" in r.stderr


def test_markdown_table_lists_every_model_and_readme_is_in_sync():
    r = run("models", "--markdown")
    assert r.returncode == 0
    from seglab.registry import MODELS

    assert all(f"`{m.id}`" in r.stdout for m in MODELS)
    readme = (ROOT / "README.md").read_text()
    missing = [m.id for m in MODELS if f"`{m.id}`" not in readme]
    assert not missing, f"README model table is stale (regenerate with `python -m seglab models --markdown`): {missing}"


def test_models_piped_are_plain_rows_one_a_model():
    r = run("models", columns=80)  # COLUMNS=80 and stdout a pipe: nothing wraps
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["id", *(m.id for m in MODELS)]
    assert all(f" {m.license}" in line for m, line in zip(MODELS, lines[1:]))  # every column on the model's line


@pytest.mark.parametrize("columns", [80, 120])
def test_models_table_in_a_terminal_fits_it_and_never_splits_an_id(columns):
    code, out = run_in_terminal("models", columns=columns)
    lines = out.splitlines()
    assert code == 0 and max(len(line) for line in lines) <= columns
    rows = [line.split()[:2] for line in lines if not line.startswith(" ")]  # continuation lines are indented
    assert rows == [["id", "task"], *([m.id, m.task] for m in MODELS)]
    text = " ".join(out.split())
    assert "PQ 57.8 (coco-val2017)" in text or columns > 80  # beneath its row at 80 columns, wrapped in place at 120
    assert all(m.license.split()[0] in out for m in MODELS)


@pytest.mark.parametrize("writer", [
    "{cli}",
    "(echo ready; exec {cli})",  # head gone before seglab writes (the table alone can fit the pipe's buffer first)
])
def test_a_closed_pipe_exits_quietly_with_0(writer):
    script = writer.format(cli=shlex.join([*SEGLAB, "models"])) + ' | head -1; echo "exit ${PIPESTATUS[0]}" >&2'
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert r.stderr.strip() == "exit 0"  # no "Broken pipe", no traceback
    assert len(r.stdout.splitlines()) == 1


def test_a_pipe_closed_before_the_first_write_exits_0():
    proc = subprocess.Popen([*SEGLAB, "models", "--json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0 and proc.stderr.read() == b""
    proc.stderr.close()


@pytest.mark.parametrize("argv", [["--box", "-50,-50,100,100"], ["--box=-50,-50,100,100"]])
def test_negative_coordinates_in_both_spellings(argv):
    args = build_parser().parse_args(join_negative_values(["predict", "m", "x.jpg", *argv, "--point", "-.5,3",
                                                           "--point=-1,-2,0", "--out", "o"]))
    assert args.box == [[-50, -50, 100, 100]] and args.point == [[-0.5, 3], [-1, -2, 0]] and args.out == "o"


@pytest.mark.parametrize("argv, msg", [(["--box", "-50,-50,-10,-10"], "box (-50, -50, -10, -10) lies outside"),
                                       (["--box=-50,-50,-10,-10"], "box (-50, -50, -10, -10) lies outside"),
                                       (["--point", "-5,3"], "point (-5, 3) is outside")])
def test_main_reads_negative_coordinates_as_numbers(argv, msg, coco_image_path, tmp_path, capsys):
    assert main(["predict", "embedded-u2netp-grabcut", str(coco_image_path), *argv, "--out", str(tmp_path)]) == 2
    assert msg in capsys.readouterr().err  # the prompt's check saw the numbers, not argparse an option


def test_predict_json_names_labels_and_the_protocol(tmp_path, coco_image_path):
    model = "mask2former-swin-tiny-coco-instance"
    weights = save_tiny_models(tmp_path / "weights", (model,)) / model
    r = run("predict", model, str(coco_image_path), "--weights", str(weights), "--threshold", "0", "--json",
            "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    info, written = json.loads(r.stdout), json.loads((tmp_path / "out" / "result.json").read_text())
    assert info["protocol"] == get_spec(model).protocol == "mask2former-coco-instance"
    assert len(info["masks"]) > 1 and [(m["score"], m["label"], m["pixels"]) for m in info["masks"]] == [
        (m["score"], m["label"], m["area"]) for m in written["masks"]]


def test_summary_lines_put_scores_and_labels_beside_their_files(tmp_path):
    masks = np.zeros((2, 4, 6), bool)
    masks[0, :2], masks[1, :, :1] = True, True  # 12 and 4 pixels
    result = Masks(masks, np.array([0.25, 0.75], np.float32), labels=np.array([3, 5]),
                   class_names={3: "cat", 5: "dog"})
    paths = [tmp_path / n for n in ("result.json", "result_mask.png", "result_masks.png", "result_overlay.png")]
    lines = summary_lines(summary(get_spec("maskrcnn-resnet50-fpn"), "x.jpg", result, paths))
    assert lines == [str(paths[0]), f"{paths[1]}  mask 1  score 0.75  dog  4 px  (the best)",
                     f"{paths[2]}  masks 1-2, the pixel value is the mask number:",
                     "  mask 1  score 0.75  dog  4 px", "  mask 2  score 0.25  cat  12 px", str(paths[3])]


def test_summary_of_a_panoptic_map_counts_each_segment():
    ids = np.zeros((4, 4), np.int32)
    ids[:2], ids[3, 3] = 7, 9
    result = PanopticMap(ids, (Segment(7, 17, True, 0.9), Segment(9, 184, False, 0.5)), {17: "cat", 184: "grass"})
    info = summary(get_spec("mask2former-swin-tiny-coco-panoptic"), "x.jpg", result, [Path("result_panoptic.png")])
    assert info["segments"] == [{"segment": 7, "score": pytest.approx(0.9), "label": "cat", "pixels": 8},
                                {"segment": 9, "score": 0.5, "label": "grass", "pixels": 1}]
    assert info["protocol"] == "mask2former-coco-panoptic" and info["image_size"] == [4, 4]
    assert summary_lines(info)[1:] == ["  segment 7  score 0.9  cat  8 px", "  segment 9  score 0.5  grass  1 px"]


@pytest.mark.parametrize("target, names", [("sam-vit-base", f"'{get_spec('sam-vit-base').weights}'"),
                                           ("--all", f"{sum(not m.offline for m in MODELS)} models")])
def test_download_offline_says_one_sentence(target, names, tmp_path):
    r = run("download", target, HF_HOME=str(tmp_path), TORCH_HOME=str(tmp_path), HF_HUB_OFFLINE="1")  # empty caches
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert names in r.stderr and "this machine is offline" in r.stderr  # which weights, and why not now
    assert f"`HF_HUB_OFFLINE=0 python -m seglab download {target}` once it is online." in r.stderr


def test_download_says_when_the_server_cannot_be_reached(tmp_path):
    r = run("download", "sam-vit-base", HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "cannot be reached from this machine" in r.stderr and "python -m seglab download sam-vit-base" in r.stderr


@pytest.mark.parametrize("status, says", [(404, "the server answered HTTP 404; run `python -m seglab download"),
                                          (401, "(HTTP 401): the repository is gated or private")])
def test_download_says_what_the_server_answered(status, says, tmp_path):
    class Answer(BaseHTTPRequestHandler):
        def do_GET(self):  # http.server's name
            self.send_error(status)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    with HTTPServer(("127.0.0.1", 0), Answer) as server:  # a local stand-in for the Hub
        threading.Thread(target=server.serve_forever, daemon=True).start()
        r = run("download", "sam-vit-base", HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path),
                HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}")
        server.shutdown()
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and says in r.stderr

