"""seglab's SAM 3 against the official ``sam3`` 0.1.4 code on the same weights: the official image model with
random weights (shared with ``tests/test_models_sam3_official.py``) and the timing run behind
``python -m benchmarks.sam_speed --against-official --model sam3``.

The official model is built by its own builder (full size, or cut to :data:`SAM3_SMALL`), saved in the layout of
the released ``sam3.pt`` and loaded through ``seglab.load_model("sam3", location=path)``. On one image it times
the image embedding (seglab: detector and tracker features; official: ``Sam3Processor.set_image``), then on the
cached embedding a text prompt (official: ``Sam3Processor.set_text_prompt``) and a click (official:
``Sam3Image.predict_inst``), alternating the two sides per repeat; it prints seconds (min and median) and the
ratio official / seglab (> 1: seglab is faster). On the CPU the official code runs inside :class:`Sam3OnCpu`,
which adds a Python call to each of its torch calls.
"""
from __future__ import annotations

import contextlib
import importlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import seglab
from benchmarks.sam_official import report, timed_pair
from seglab.errors import SeglabError

TEXT = "cat"  # random weights find noise: the prompt's cost is timed, not its masks
# sam3 0.1.4 is byte-identical to facebookresearch/sam3 at d0b1b9d.
# A cut official SAM 3: ViT width and depth, text encoder and transformer stacks reduced (the rest official), so that
# one image costs seconds on a CPU. The ViT's global-attention block is the last; heads stay 16.
SAM3_SMALL = {"vit": dict(embed_dim=256, depth=2, global_att_blocks=(1,)), "text": dict(layers=2),
              "encoder": 2, "decoder": 2, "geometry": 1}
# output-layer scales that spread random-init logits: instance masks, query-prompt scores, presence, tracker masks
# and predicted IoUs; the box heads' last layers start at zero, so they get random weights of this std
SAM3_SPREAD = {"masks": 40.0, "scores": 8.0, "presence": 4.0, "tracker_masks": 50.0, "tracker_iou": 10.0,
               "box_std": 0.05}


class Sam3OnCpu(torch.overrides.TorchFunctionMode):
    """Runs the official SAM 3 on the CPU: tensors it creates on a hard-coded ``cuda`` device go to the CPU and
    ``pin_memory()`` (CUDA hosts only) returns the tensor (decoder.py, position_encoding.py, geometry_encoders.py,
    sam3_tracker_base.py)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.Tensor.pin_memory:
            return args[0]
        if str(kwargs.get("device", "")).startswith("cuda"):
            kwargs["device"] = "cpu"
        return func(*args, **kwargs)


def _with(cls: Callable[..., Any], **settings: Any) -> Callable[..., Any]:
    def build(*args: Any, **kwargs: Any) -> Any:
        return cls(*args, **{**kwargs, **settings})

    return build


def build_official_sam3(small: bool = True, seed: int = 0) -> torch.nn.Module:
    """The official SAM 3 image model (detector + interactive tracker) with random weights (``seed``) from its own
    builder, its output layers spread by :data:`SAM3_SPREAD`; cut to :data:`SAM3_SMALL` with ``small``.

    The builder needs the official BPE file (:func:`seglab.checkpoints.sam3.bpe_path`) and leaves two text-encoder
    parameters as ``torch.empty`` (the official checkpoint sets them): they get normal(0, 0.02) here."""
    from unittest import mock

    from seglab.checkpoints.sam3 import bpe_path

    try:
        builder = importlib.import_module("sam3.model_builder")
    except ImportError as e:
        raise SeglabError(f"the official sam3 package is not installed ({e}); see requirements-dev.txt") from None
    patches = []
    if small:
        s = SAM3_SMALL
        patches = [mock.patch.object(builder, "ViT", _with(builder.ViT, **s["vit"])),
                   mock.patch.object(builder, "VETextEncoder", _with(builder.VETextEncoder, **s["text"])),
                   mock.patch.object(builder, "TransformerEncoderFusion",
                                     _with(builder.TransformerEncoderFusion, num_layers=s["encoder"])),
                   mock.patch.object(builder, "TransformerDecoder",
                                     _with(builder.TransformerDecoder, num_layers=s["decoder"])),
                   mock.patch.object(builder, "SequenceGeometryEncoder",
                                     _with(builder.SequenceGeometryEncoder, num_layers=s["geometry"]))]
    torch.manual_seed(seed)
    with contextlib.ExitStack() as stack, Sam3OnCpu():
        for patch in patches:
            stack.enter_context(patch)
        model = builder.build_sam3_image_model(bpe_path=str(bpe_path()), device="cpu", checkpoint_path=None,
                                               load_from_HF=False, eval_mode=True, enable_inst_interactivity=True)
    text = model.backbone.language_backbone.encoder
    tracker = model.inst_interactive_predictor.model
    decoder = model.transformer.decoder
    spread = SAM3_SPREAD
    with torch.no_grad():
        torch.nn.init.normal_(text.positional_embedding, std=0.02)
        torch.nn.init.normal_(text.text_projection, std=0.02)
        model.segmentation_head.mask_predictor.mask_embed.layers[-1].weight.mul_(spread["masks"])
        model.dot_prod_scoring.hs_proj.weight.mul_(spread["scores"])
        decoder.presence_token_head.layers[-1].weight.mul_(spread["presence"])
        torch.nn.init.normal_(decoder.bbox_embed.layers[-1].weight, std=spread["box_std"])
        for mlp in tracker.sam_mask_decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(spread["tracker_masks"])
        tracker.sam_mask_decoder.iou_prediction_head.layers[-1].weight.mul_(spread["tracker_iou"])
    return model.eval()


def sam3_checkpoint(model: torch.nn.Module) -> dict[str, Any]:
    """``model``'s weights as the released ``sam3.pt`` holds them: ``{"model": ...}`` with the detector under
    ``detector.`` and the tracker under ``tracker.`` (the names ``sam3.model_builder._load_checkpoint`` reads)."""
    inner = "inst_interactive_predictor.model."
    return {"model": {(f"tracker.{k[len(inner):]}" if k.startswith(inner) else f"detector.{k}"): v
                      for k, v in model.state_dict().items()}}


def run(image: np.ndarray, repeats: int, embed_repeats: int, small: bool, device: str = "cpu") -> dict[str, Any]:
    """Time seglab's SAM 3 against the official code on ``image``, both on ``device``: the embedding, a text
    prompt (:data:`TEXT`) and a click on the cached embedding; prints a line per measurement and returns them."""
    from PIL import Image
    from sam3.model.sam3_image_processor import Sam3Processor

    model = build_official_sam3(small=small)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sam3.pt"
        torch.save(sam3_checkpoint(model), path)
        ours = seglab.load_model("sam3", device=device, location=path)
    model = model.to(device)
    on_device = Sam3OnCpu if device == "cpu" else contextlib.nullcontext
    processor = Sam3Processor(model, device=device, confidence_threshold=ours.threshold)
    h, w = image.shape[:2]
    pil = Image.fromarray(image)
    print(f"sam3 vs sam3 (official) on {device}, same random weights ({'small' if small else 'full size'}), "
          f"image {w}x{h}")

    def embed_ours() -> None:
        ours.cache.clear()
        ours.detector_features(image)
        ours.tracker_features(image)

    def official(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
        def call() -> Any:
            with on_device():
                return fn(*args, **kwargs)

        return call

    embedded: dict[str, Any] = {}

    def embed_official() -> None:
        with on_device():
            embedded["state"] = processor.set_image(pil)

    rows = {"embedding": report("embedding", *timed_pair(embed_ours, embed_official, embed_repeats))}
    state = embedded["state"]  # both sides keep the last embedding for the prompts
    found: dict[str, int] = {}

    def text_ours() -> None:
        found["seglab"] = len(seglab.predict(ours, image, seglab.Prompt.build(text=TEXT)).scores)

    def text_official() -> None:
        processor.reset_all_prompts(state)
        found["official"] = len(processor.set_text_prompt(TEXT, state)["scores"])

    rows["text_prompt"] = {**report(f"text prompt ({TEXT!r}, on the embedding)",
                             *timed_pair(text_ours, official(text_official), repeats)), "instances": dict(found)}
    click = (0.5 * w, 0.45 * h)
    rows["click"] = report("click (on the embedding)", *timed_pair(
        lambda: seglab.predict(ours, image, seglab.Prompt.build(points=[click])),
        official(model.predict_inst, state, point_coords=np.array([click]), point_labels=np.array([1]),
                 multimask_output=True), repeats))
    return {"model": "sam3", "official": "sam3", "small": small, "device": device, "image_size": [h, w],
            "text": TEXT, **rows}
