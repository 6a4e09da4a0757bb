"""Depth Anything V2 ViT-S through seglab gives the official ``depth_anything_v2`` code's depth on the same weights.

The official ``DepthAnythingV2(encoder='vits')`` (PyPI ``depth-anything-v2`` 0.1.0: the ``depth_anything_v2/``
package of DepthAnything/Depth-Anything-V2 at a561b849ebae10a6f5ef49e26c83cbbcd36c71bf, byte for byte) is built
with random weights, its last conv scaled so the depth spreads, saved as the official ``.pth`` and loaded through
``seglab.load_model(..., location=PATH)``. The oracle is its ``infer_image`` (BGR in, depth at the original size
out). The full ViT-S runs once, through the CLI's ``--weights``, on a COCO image; an NYU image and an odd-sized
portrait COCO image run on the official modules with 4 blocks and a narrow head, converted by the same table.
Each difference seglab fixes has a test of its own.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
import torch

import seglab
from seglab.checkpoints import check_state_dict, load_official
from seglab.checkpoints.depth_anything import convert, empty_model
from seglab.errors import WeightsUnavailableError
from seglab.models.base import resolve_device
from seglab.models.depth import DepthAnything, official_input_size, official_pixels

dpt = pytest.importorskip("depth_anything_v2.dpt", reason="the official depth-anything-v2 package is not installed "
                                                          "(.ci/run installs it)")

MODEL_ID = "depth-anything-v2-small"
SIZES = {"vits": {"features": 64, "out_channels": [48, 96, 192, 384]},  # the official run.py's model_configs
         "vitb": {"features": 128, "out_channels": [96, 192, 384, 768]},
         "vitl": {"features": 256, "out_channels": [256, 512, 1024, 1024]}}
VITS = {"encoder": "vits", **SIZES["vits"]}
RELATIVE = 1e-4  # largest |seglab - official| allowed, relative to the official depth's largest value
DEVICE = resolve_device()  # where the official image2tensor puts its input, and seglab its model: cuda, mps, cpu


def _official(seed: int, blocks: int | None = None, **config) -> torch.nn.Module:
    """The official model with random weights; ``blocks`` keeps only the first ones (the head reads each)."""
    torch.manual_seed(seed)
    model = dpt.DepthAnythingV2(**config)
    if blocks is not None:
        model.pretrained.blocks = model.pretrained.blocks[:blocks]
        model.intermediate_layer_idx = {config["encoder"]: list(range(blocks))}
    with torch.no_grad():  # random heads give near-constant depth; spread it around 1
        last = model.depth_head.scratch.output_conv2[2]
        last.weight.mul_(50.0 / last.weight.abs().max())
        last.bias.fill_(1.0)
    return model.to(DEVICE).eval()


@pytest.fixture(scope="module", autouse=True)
def _full_precision():
    """No TF32 convolutions on a GPU (cuDNN's default): each model would get other rounding."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = before


def _oracle(model: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    """The official depth of an RGB image (``infer_image`` reads OpenCV's BGR)."""
    return model.infer_image(np.ascontiguousarray(image[..., ::-1]))


def _assert_equal(ours: np.ndarray, official: np.ndarray) -> None:
    assert ours.shape == official.shape
    assert official.std() > 0.05 * official.mean()  # the depth spreads: the comparison can see a difference
    error = np.abs(ours - official).max() / np.abs(official).max()
    assert error <= RELATIVE, f"max relative difference {error:.2e}"


@contextmanager
def _input_sizes(model: torch.nn.Module) -> Iterator[list[tuple[int, int]]]:
    """The (height, width) of every input the model is called on inside the block."""
    sizes: list[tuple[int, int]] = []
    hook = model.register_forward_pre_hook(
        lambda _, args, kwargs: sizes.append(tuple(kwargs["pixel_values"].shape[-2:])), with_kwargs=True)
    try:
        yield sizes
    finally:
        hook.remove()


@pytest.fixture(scope="module")
def official() -> torch.nn.Module:
    return _official(0, **VITS)


@pytest.fixture(scope="module")
def checkpoint(official, tmp_path_factory):
    path = tmp_path_factory.mktemp("depth-anything-official") / "depth_anything_v2_vits.pth"
    torch.save(official.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def coco_depth(official, coco_image) -> np.ndarray:
    return _oracle(official, coco_image)


@pytest.fixture(scope="module")
def cut() -> tuple[torch.nn.Module, DepthAnything]:
    """The official ViT-S modules with 4 blocks and a narrow head, and seglab's adapter on its converted weights."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    official = _official(1, blocks=4, encoder="vits", features=16, out_channels=[8, 16, 32, 64])
    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=4, num_attention_heads=6, image_size=518,
                            out_indices=[1, 2, 3, 4],
                            apply_layernorm=True, reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=384, patch_size=14,
                                 neck_hidden_sizes=[8, 16, 32, 64], fusion_hidden_size=16)
    model = DepthAnythingForDepthEstimation(config)
    state = convert(official.state_dict())
    check_state_dict(model, state, "4-block checkpoint")
    model.load_state_dict(state, strict=True)
    return official, DepthAnything(seglab.get_spec(MODEL_ID), model.to(DEVICE).eval(), None, DEVICE, torch.float32)


@contextmanager
def _meta_parameters() -> Iterator[None]:
    """Modules built inside get unallocated (meta) parameters; other tensors stay real."""
    register = torch.nn.Module.register_parameter

    def on_meta(module, name, param):
        register(module, name, None if param is None else torch.nn.Parameter(param.to("meta"), param.requires_grad))

    with mock.patch.object(torch.nn.Module, "register_parameter", on_meta):
        yield


@pytest.mark.parametrize("encoder", list(SIZES))
def test_every_official_size_converts_onto_its_transformers_model(encoder):
    """The key and size tables against the official architecture (unallocated weights): each official key lands
    on a transformers tensor of its shape, none is left over, heads and the blocks the head reads are official."""
    with _meta_parameters():
        official = dpt.DepthAnythingV2(encoder=encoder, **SIZES[encoder])
    state = official.state_dict()
    model = empty_model(state)
    check_state_dict(model, convert(state), f"{encoder} checkpoint")
    backbone = model.config.backbone_config
    assert backbone.num_attention_heads == official.pretrained.num_heads
    assert backbone.out_indices == [i + 1 for i in official.intermediate_layer_idx[encoder]]


@pytest.mark.parametrize(("size", "expected"), [((427, 640), (518, 770)), ((640, 427), (770, 518)),
                                                ((500, 351), (742, 518)), ((480, 640), (518, 686)),
                                                ((200, 200), (518, 518)), ((1000, 3000), (518, 1554))])
def test_input_size_is_the_official_short_side_518(size, expected):
    """The official ``Resize(lower_bound, ensure_multiple_of=14)``, not DPTImageProcessor's 350 x 518 for 427 x 640."""
    from depth_anything_v2.util.transform import Resize

    official = Resize(width=518, height=518, keep_aspect_ratio=True, ensure_multiple_of=14,
                      resize_method="lower_bound").get_size(size[1], size[0])
    assert official_input_size(*size) == expected == (official[1], official[0])


def test_pixels_equal_the_official_image2tensor(official, coco_root):
    """/255, cv2 bicubic resize of the float image, normalisation: the same numbers, on an odd-sized image."""
    image = seglab.load_image(coco_root / "val2017" / "000000331352.jpg")  # 351 x 500
    reference, _ = official.image2tensor(np.ascontiguousarray(image[..., ::-1]))
    ours = official_pixels(image)
    assert ours.shape == reference.shape == (1, 3, 742, 518)
    assert torch.equal(ours, reference.cpu())


@pytest.fixture(scope="module")
def hub_folder(checkpoint, tmp_path_factory):
    """The same weights as a ``save_pretrained`` folder with the Hub's processor file: the Hub route."""
    model, processor = load_official(checkpoint, "depth-anything")
    folder = tmp_path_factory.mktemp("depth-anything-hf")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("route", ["official checkpoint", "save_pretrained folder"])
def test_position_embeddings_are_interpolated_as_dinov2(official, checkpoint, hub_folder, route):
    """At a non-square input the official DINOv2 interpolation (scale factor with +0.1), not transformers'."""
    from transformers.models.dinov2.modeling_dinov2 import Dinov2Embeddings

    location = checkpoint if route == "official checkpoint" else hub_folder
    embeddings = seglab.load_model(MODEL_ID, location=location).model.backbone.embeddings
    tokens = torch.zeros(1, 1 + 37 * 55, 384, device=DEVICE)
    with torch.no_grad():
        reference = official.pretrained.interpolate_pos_encoding(tokens, 518, 770)  # (x, height, width)
        ours = embeddings.interpolate_pos_encoding(tokens, 518, 770)
        upstream = Dinov2Embeddings.interpolate_pos_encoding(embeddings, tokens, 518, 770)
    assert ours.shape == reference.shape == (1, 1 + 37 * 55, 384)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    assert (upstream - reference).abs().max() > 1e-2  # what transformers alone would feed the blocks


def test_full_vits_through_the_cli_equals_the_official_model(official, checkpoint, coco_image_path, coco_depth,
                                                              tmp_path):
    """``seglab predict depth-anything-v2-small IMAGE --weights depth_anything_v2_vits.pth`` on a COCO 427 x 640
    image: the official 518 x 770 input, the official depth at the original size."""
    from seglab.cli import main

    model = seglab.load_model(MODEL_ID, location=checkpoint)  # the adapter the CLI's load_model returns
    assert model.kind == "relative"
    with _input_sizes(model.model) as sizes:
        assert main(["predict", MODEL_ID, str(coco_image_path), "--weights", str(checkpoint), "--out",
                     str(tmp_path)]) == 0
    assert sizes == [(518, 770)]
    _assert_equal(np.load(tmp_path / "result_depth.npy"), coco_depth)


@pytest.mark.parametrize(("root", "name"), [("nyu", "image_0.png"),  # 480 x 640
                                            ("coco", "val2017/000000331352.jpg")])  # 500 x 351, portrait, odd
def test_more_images_equal_the_official_modules(cut, coco_root, nyu_root, root, name):
    official, ours = cut
    image = seglab.load_image((nyu_root if root == "nyu" else coco_root) / name)
    with _input_sizes(ours.model) as sizes:
        out = seglab.predict(ours, image)
    assert sizes == [official_input_size(*image.shape[:2])]
    _assert_equal(out.depth, _oracle(official, image))


def test_metric_checkpoint_gets_the_registry_entry_head(checkpoint):
    """The official metric files have the relative ones' keys: the sigmoid head and range come from the registry."""
    model = seglab.load_model("depth-anything-v2-metric-indoor-small", location=checkpoint)
    assert model.kind == "metric" and model.model.config.max_depth == 20
    assert isinstance(model.model.head.activation2, torch.nn.Sigmoid)


@pytest.mark.parametrize(("change", "message"), [
    (lambda sd: sd.update({"pretrained.register_tokens": torch.zeros(1, 4, 384)}),
     "unexpected key 'pretrained.register_tokens'"),
    (lambda sd: sd.pop("depth_head.scratch.output_conv1.bias"), "key 'head.conv1.bias' is missing"),
    (lambda sd: sd.update({"pretrained.blocks.0.mlp.fc1.weight": torch.zeros(8, 384)}),
     r"key 'backbone.encoder.layer.0.mlp.fc1.weight' has shape \(8, 384\)"),
    (lambda sd: sd.update({"pretrained.pos_embed": torch.zeros(1, 1370, 512)}), "none of the official"),
    (lambda sd: sd.pop("pretrained.pos_embed"), "key 'pretrained.pos_embed' is missing"),
])
def test_a_wrong_checkpoint_is_a_one_line_error(official, tmp_path, change, message):
    state = dict(official.state_dict())
    change(state)
    path = tmp_path / "depth_anything_v2_vits.pth"
    torch.save(state, path)
    with pytest.raises(WeightsUnavailableError, match=message) as error:
        load_official(path, "depth-anything")
    assert "\n" not in str(error.value) and str(path) in str(error.value)
