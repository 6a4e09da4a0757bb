"""torchvision adapters: real architectures with random weights, loaded through seglab.load_model from a state dict."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
from torchvision.models import get_model, get_model_weights

import seglab
from seglab.models.torchvision_models import torchvision_is_cached


def _save_random(name: str, path: Path, **options) -> Path:
    torch.manual_seed(0)
    model = get_model(name, weights=None, weights_backbone=None,
                      num_classes=len(get_model_weights(name).DEFAULT.meta["categories"]), **options)
    state = model.state_dict()
    if "roi_heads.box_predictor.cls_score.bias" in state:  # random Mask R-CNN, made to call every box a person
        state["roi_heads.box_predictor.cls_score.weight"].zero_()
        state["roi_heads.box_predictor.cls_score.bias"][1] = 10.0
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tv")


@pytest.fixture(scope="module")
def deeplab(weights_dir) -> Path:
    return _save_random("deeplabv3_mobilenet_v3_large", weights_dir / "deeplab.pth", aux_loss=True)


def test_semantic_from_state_dict(deeplab, coco_image):
    model = seglab.load_model("deeplabv3-mobilenet-v3-large", location=deeplab)
    out = seglab.predict(model, coco_image, probabilities=True)
    h, w = coco_image.shape[:2]
    assert isinstance(out, seglab.SemanticMap)
    assert out.labels.shape == (h, w) and out.labels.dtype == np.int32
    assert out.class_names[0] == "__background__" and len(out.class_names) == 21
    assert out.probabilities.shape == (21, h, w)
    np.testing.assert_allclose(out.probabilities.sum(0), 1.0, atol=1e-4)
    at_label = np.take_along_axis(out.probabilities, out.labels[None].astype(np.int64), 0)[0]
    assert (at_label >= out.probabilities.max(0) - 1e-5).all()  # the label is the most probable class (ties aside)


def test_maskrcnn_from_state_dict(weights_dir, coco_image):
    path = _save_random("maskrcnn_resnet50_fpn", weights_dir / "maskrcnn.pth")
    model = seglab.load_model("maskrcnn-resnet50-fpn", location=path)
    out = seglab.predict(model, coco_image, threshold=0.5)
    h, w = coco_image.shape[:2]
    assert isinstance(out, seglab.Masks) and len(out) > 0
    assert out.masks.shape[1:] == (h, w) and out.masks.dtype == bool
    assert (out.scores >= 0.5).all() and out.boxes.shape == (len(out), 4)
    assert (out.labels == 1).all() and out.class_names[1] == "person" and out.label_name(0) == "person"
    assert 12 not in out.class_names and len(out.class_names) == 80  # COCO ids: 12 is unused ('N/A' in the list)


def test_wrong_state_dict_is_a_clear_error(weights_dir):
    path = weights_dir / "not-a-model.pth"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(seglab.WeightsUnavailableError, match="does not hold"):
        seglab.load_model("fcn-resnet50", location=path)


def test_offline_without_cache_names_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = seglab.get_spec("maskrcnn-resnet50-fpn-v2")
    assert not torchvision_is_cached(spec) and not seglab.is_available(spec.id)
    with pytest.raises(seglab.WeightsUnavailableError, match="python -m seglab download maskrcnn-resnet50-fpn-v2"):
        seglab.load_model(spec.id)


def test_is_cached_looks_in_the_torch_hub_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = seglab.get_spec("fcn-resnet50")
    assert not torchvision_is_cached(spec)
    name = os.path.basename(urlparse(get_model_weights("fcn_resnet50").DEFAULT.url).path)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / name).write_bytes(b"")
    assert torchvision_is_cached(spec) and seglab.is_available(spec.id)


_METRIC_NAMES = {"miou": "mIoU", "mask_map": "AP", "box_map": "box AP"}


@pytest.mark.parametrize("spec", [m for m in seglab.MODELS if m.source == "torchvision"], ids=lambda m: m.id)
def test_published_numbers_match_the_weights_metadata(spec):
    (metrics,) = get_model_weights(spec.weights).DEFAULT.meta["_metrics"].values()
    expected = {_METRIC_NAMES[k]: v for k, v in metrics.items() if k in _METRIC_NAMES}
    assert {p.metric: p.value for p in spec.published} == expected


# --- torchvision-voc-520: scored at the resized size, as references/segmentation/train.py evaluates -------------

def _reference_prediction(model, image) -> torch.Tensor:
    """The reference's evaluation of one image: the weights' transforms on the PIL image, then
    ``model(image)['out'].argmax(1)`` at that size (``evaluate`` in references/segmentation/train.py)."""
    from PIL import Image

    weights = get_model_weights("deeplabv3_mobilenet_v3_large").DEFAULT
    with torch.inference_mode():
        return model(weights.transforms()(Image.fromarray(image))[None])["out"].argmax(1)[0]


def test_semantic_resized_is_the_reference_evaluation(deeplab, coco_image):
    model = seglab.load_model("deeplabv3-mobilenet-v3-large", location=deeplab)
    out = seglab.predict(model, coco_image, resized=True, probabilities=True)
    h, w = coco_image.shape[:2]  # 427 x 640: short side 520, long side int(520 * 640 / 427) = 779
    assert (h, w) == (427, 640) and out.labels.shape == (520, 779) and out.probabilities.shape == (21, 520, 779)
    np.testing.assert_array_equal(out.labels, _reference_prediction(model.model, coco_image).numpy())


def _reference_miou(model, coco_root: Path, image_ids: list[int]) -> float:
    """references/segmentation: the target (coco_utils' VOC map) resized with ``F.resize(target, size, NEAREST)``
    on the PIL image to the transformed image's size; ``utils.ConfusionMatrix`` (bincount of n * target + pred
    over 0 <= target < n); IoU = diag / (rows + cols - diag), its NaN-mean over classes present (percent)."""
    from PIL import Image
    from pycocotools.coco import COCO
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    from seglab.metrics import coco_to_voc_labels

    coco = COCO(str(coco_root / "annotations" / "instances_val2017.json"))
    n = 21
    confmat = torch.zeros((n, n), dtype=torch.int64)
    for image_id in image_ids:
        info = coco.imgs[image_id]
        image = seglab.load_image(coco_root / "val2017" / info["file_name"])
        target = Image.fromarray(coco_to_voc_labels(coco.loadAnns(coco.getAnnIds(imgIds=[image_id])),
                                                    info["height"], info["width"]))
        pred = _reference_prediction(model, image)
        a = torch.as_tensor(np.array(F.resize(target, list(pred.shape), interpolation=InterpolationMode.NEAREST)),
                            dtype=torch.int64).flatten()
        b = pred.flatten()
        k = (a >= 0) & (a < n)
        confmat += torch.bincount(n * a[k] + b[k], minlength=n ** 2).reshape(n, n)
    h = confmat.double()
    iu = torch.diag(h) / (h.sum(1) + h.sum(0) - torch.diag(h))
    return float(np.nanmean(iu.numpy())) * 100


def test_benchmark_scores_torchvision_at_the_resized_size(weights_dir, coco_root, tmp_path):
    """A model that calls every pixel background: its mIoU is the resized target's background share, so the
    size scored at and the nearest resize of the target both show."""
    import json

    import pandas as pd

    from benchmarks.run import main as run_main

    path = _save_random("deeplabv3_mobilenet_v3_large", weights_dir / "background.pth", aux_loss=True)
    state = torch.load(path)
    state["classifier.4.weight"].zero_()
    state["classifier.4.bias"].zero_()
    state["classifier.4.bias"][0] = 1.0
    torch.save(state, path)

    image_id = 17627  # cars, a bus and people: VOC classes whose borders the nearest resize moves
    data = json.loads((coco_root / "annotations" / "instances_val2017.json").read_text())
    data["images"] = [im for im in data["images"] if im["id"] == image_id]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == image_id]
    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    (coco / "val2017").mkdir()
    name = data["images"][0]["file_name"]
    (coco / "val2017" / name).symlink_to(coco_root / "val2017" / name)
    out = tmp_path / "out"
    assert run_main(["--task", "semantic", "--models", "deeplabv3-mobilenet-v3-large", "--location", str(path),
                     "--coco-root", str(coco), "--device", "cpu", "--out", str(out)]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert (row["dataset"], row["n_images"], row["n_failed"]) == ("coco-val2017-voc", 1, 0)
    model = seglab.load_model("deeplabv3-mobilenet-v3-large", location=path).model
    assert row["mIoU"] == pytest.approx(_reference_miou(model, coco_root, [image_id]), abs=1e-6)
