"""The app as an API: launched on 127.0.0.1 (a free port) inside the test, every named endpoint
called through gradio_client on a real COCO image; the server is closed at the end."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import seglab
from app_weights import save_tiny_models
from ui import build_demo
from web import served

TIMEOUT = 120  # seconds for any single call
EMBEDDED = "embedded-u2netp-grabcut"
ENDPOINTS = ("/segment", "/segment_everything", "/semantic", "/instance", "/panoptic", "/parts", "/depth", "/compare")


@pytest.fixture(scope="module")
def client(tmp_path_factory, coco_root):
    weights = save_tiny_models(tmp_path_factory.mktemp("weights"))
    with served(build_demo(weights_dir=weights, results_dir=tmp_path_factory.mktemp("results"))) as url:
        yield Client(url, verbose=False, httpx_kwargs={"timeout": TIMEOUT})


@pytest.fixture(scope="module")
def image(coco_image_path):
    return handle_file(str(coco_image_path))


def call(client, *args, api_name):
    return client.submit(*args, api_name=api_name).result(timeout=TIMEOUT)


def test_every_task_has_a_named_documented_endpoint(client):
    assert set(ENDPOINTS) <= set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_segment(client, image):
    view, prompt, picks, files, status = call(client, image, '{"boxes": [[100, 50, 500, 400]]}', EMBEDDED, "",
                                              api_name="/segment")
    assert Image.open(view).size == (640, 427) and files is None  # downloads are written when asked
    assert Image.open(view).format == "JPEG"  # the canvas: a PNG took 20x longer to encode than the click's mask
    assert json.loads(prompt) == {"boxes": [[100.0, 50.0, 500.0, 400.0]]}
    files = call(client, None, api_name="/segment_downloads")
    assert {Path(f["path"] if isinstance(f, dict) else f).name for f in files} >= {"segment.json", "segment_mask.png"}
    assert EMBEDDED in status
    path = next(f if isinstance(f, str) else f["path"] for f in files if str(f).endswith("segment.json"))
    entry = json.loads(Path(path).read_text())["masks"][0]
    assert entry["segmentation"]["size"] == [427, 640] and entry["polygons"]


def test_segment_takes_a_level(client, image):
    """A SAM click through ``/segment`` at each level: the picked mask (the radio's value) is that level."""
    picked = [call(client, image, '{"points": [[300, 200]]}', "sam-vit-base", "", level, api_name="/segment")[2]
              for level in ("whole", "part", "subpart")]
    assert [p["value"] for p in picked] == ["0", "1", "2"]
    assert [label.split(" · ")[0] for label, _ in picked[0]["choices"][1:]] == ["whole", "part", "subpart"]


MODES = ("grey16.png", "rgb16.png", "cmyk.jpg", "palette-transparent.png", "la.png", "exif-rotated.jpg")


def save_in_mode(rgb: np.ndarray, path: Path) -> None:
    """The image written in one of the modes people upload (:data:`MODES`, by file name)."""
    if path.name == "rgb16.png":  # Pillow writes no 16-bit RGB; OpenCV does (BGR order)
        cv2.imwrite(str(path), rgb[..., ::-1].astype(np.uint16) * 257)
        return
    image, options = Image.fromarray(rgb), {}
    if path.name == "grey16.png":
        image = Image.fromarray((rgb.mean(-1) * 257).astype(np.uint16))
    elif path.name == "cmyk.jpg":
        image = image.convert("CMYK")
    elif path.name == "palette-transparent.png":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        image.info["transparency"] = 0
    elif path.name == "la.png":
        image = image.convert("LA")
    else:
        options["exif"] = Image.Exif()
        options["exif"][0x0112] = 6  # shown rotated by 90 degrees
    image.save(path, **options)


@pytest.mark.parametrize("name", MODES)
def test_every_image_mode_gives_the_mask_the_python_api_gives(client, coco_image, tmp_path, name):
    path = tmp_path / name
    save_in_mode(coco_image, path)
    box = [100, 50, 400, 300]
    call(client, handle_file(str(path)), json.dumps({"boxes": [box]}), EMBEDDED, "", api_name="/segment")
    files = call(client, None, api_name="/segment_downloads")
    mask_png = next(f for f in files if str(f).endswith("segment_mask.png"))
    app_mask = np.asarray(Image.open(mask_png)) > 0
    api = seglab.predict(EMBEDDED, path, seglab.Prompt.build(box=box))
    assert app_mask.shape == api.masks[0].shape and np.array_equal(app_mask, api.masks[0])


def test_segment_everything(client, image):
    view, _, _, _, status, done = call(client, image, "sam-vit-base", 4, 2, 0.0, 0.0, 0.7, 0, 0,
                                       api_name="/segment_everything")
    assert Image.open(view).size == (640, 427) and "everything" in status and done.startswith("Done: ")


@pytest.mark.parametrize("task, model, extra", [("semantic", "segformer-b0-ade", ()),
                                                ("instance", "mask2former-swin-tiny-coco-instance", (0.0,)),
                                                ("panoptic", "mask2former-swin-tiny-coco-panoptic", (0.0,)),
                                                ("parts", "segformer-b5-face-parsing", ())])
def test_dense_endpoints(client, image, task, model, extra):
    update, files, status = call(client, image, model, *extra, api_name=f"/{task}")
    annotated, colours = update["value"], update["color_map"]  # an AnnotatedImage update: value + legend colours
    assert Image.open(annotated["image"]).size == (640, 427)
    assert all(Image.open(a["image"]).size == (640, 427) for a in annotated["annotations"])
    assert {a["label"] for a in annotated["annotations"]} == set(colours)
    assert model in status and files


def test_depth(client, image):
    coloured, info, cloud, files, status = call(client, image, "depth-anything-v2-metric-indoor-small",
                                                api_name="/depth")
    assert Image.open(coloured).size[1] == 427 and info.startswith("Metric depth")
    assert cloud["visible"] and cloud["value"].endswith(".ply")  # a Model3D update: shown for metric depth
    assert any(f.endswith("_depth16.png") for f in files)


def test_compare(client, image):
    gallery, table = call(client, image, [EMBEDDED, "sam-vit-base"], '{"points": [[320, 200]]}', "",
                          api_name="/compare")
    assert [item["caption"].split(" · ")[0] for item in gallery] == [EMBEDDED, "sam-vit-base"]
    assert table.count("| ok |") == 2


def test_bad_input_comes_back_as_the_sentence(client, image, tmp_path):
    with pytest.raises(AppError, match="did you mean sam-vit-base"):
        call(client, image, '{"points": [[5, 5]]}', "sam-vit-bsae", "", api_name="/segment")
    with pytest.raises(AppError, match="is a semantic model, not promptable; promptable models here: "):
        call(client, image, '{"points": [[5, 5]]}', "segformer-b0-ade", "", api_name="/segment")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(AppError, match="broken.png is not an image file"):
        call(client, handle_file(str(broken)), "segformer-b0-ade", api_name="/semantic")
    assert call(client, image, '{"points": [[5, 5]]}', EMBEDDED, "", api_name="/segment")  # the app goes on


def test_concurrent_users_get_their_own_results(client, coco_root):
    paths = [coco_root / "val2017" / name for name in ("000000397133.jpg", "000000555705.jpg", "000000403385.jpg")]

    def user(path: Path) -> tuple[tuple[int, int], tuple[int, int]]:
        view, *_ = call(client, handle_file(str(path)), '{"boxes": [[5, 5, 200, 200]]}', EMBEDDED, "",
                        api_name="/segment")
        return Image.open(view).size, Image.open(path).size

    with ThreadPoolExecutor(3) as pool:
        for shown, original in pool.map(user, paths):
            assert shown == original


def test_download_weights_shows_the_hubs_progress_bars(client, monkeypatch):
    import time

    from huggingface_hub.utils import tqdm as hub_tqdm

    from ui import weights

    def download(model_id):  # the Hub's downloads report progress through its tqdm
        for _ in hub_tqdm(range(4), desc="model.safetensors"):
            time.sleep(0.5)
        return [model_id]

    monkeypatch.setattr(weights, "is_offline_mode", lambda: False)
    monkeypatch.setattr(weights, "download_bytes", lambda model_id: None)
    monkeypatch.setattr(seglab, "download", download)
    job = client.submit("depth-pro", api_name="/depth_download")
    seen = set()
    while not job.done():
        seen |= {unit.desc for unit in job.status().progress_data or ()}
        time.sleep(0.05)
    models, line = job.result(timeout=TIMEOUT)  # the API leaves the button out
    assert "model.safetensors" in seen and "depth-pro" in dict(models["choices"]).values() and "depth" in line
