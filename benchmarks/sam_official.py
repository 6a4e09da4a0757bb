"""seglab against the official SAM / SAM-HQ code on the same weights: the official models with random weights
(shared with ``tests/test_models_sam_official.py``) and the timing run behind ``python -m benchmarks.sam_speed
--against-official``.

It times, on one image, the image embedding, click-to-mask on the embedded image, and segment everything
(embedding included: the official generator embeds each time) for seglab's adapter, loaded from the official
``.pth`` through ``seglab.load_model(..., location=...)``, and for the official ``SamPredictor`` /
``SamAutomaticMaskGenerator``, alternating the two so machine load hits both alike; it prints seconds (min and
median) and the ratio official / seglab (> 1: seglab is faster). The PyPI package ``segment-anything-fast``
0.1.2 ships FastSAM (a YOLO model), not the PyTorch team's fast SAM, so it has no equal-weights run to time.
"""
from __future__ import annotations

import importlib
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

import seglab
from seglab.errors import SeglabError
from seglab.everything import EverythingParams, segment_everything

OFFICIAL = {"sam": "segment_anything", "sam-hq": "segment_anything_hq"}
MODELS = ("sam-vit-base", "sam-hq-vit-base")  # the registry's ViT-B of each official family
# output-layer scales that spread random-init mask logits to std ~5 (SAM-HQ adds two masks, so it needs less)
# and predicted IoUs over about +/-2, so that masks and scores are not all near 0
SPREAD = {"sam": 60.0, "sam-hq": 12.0}
IOU_SPREAD = 60.0
SMALL_VIT = dict(encoder_embed_dim=64, encoder_depth=2, encoder_num_heads=2, encoder_global_attn_indexes=[1])
FAST_SAM_NOTE = ("segment-anything-fast (PyPI 0.1.2) is FastSAM, a YOLO model, not an equal-weights SAM: "
                 "not timed")


def official_package(family: str) -> Any:
    """The official package of ``family``, with a one-line error naming how to install it."""
    try:
        return importlib.import_module(OFFICIAL[family])
    except ImportError as e:
        raise SeglabError(f"the official {family} package is not installed ({e}); "
                          "pip install -r requirements-dev.txt") from None


def small_official(family: str, dim: int = 32) -> torch.nn.Module:
    """The official modules put together as ``_build_sam`` does, with :data:`SMALL_VIT` and a ``dim``-wide
    prompt encoder and decoder (each point prompt costs ~1/50 of the real decoder's)."""
    m = importlib.import_module(f"{official_package(family).__name__}.modeling")
    vit = SMALL_VIT["encoder_embed_dim"]
    encoder = m.ImageEncoderViT(depth=SMALL_VIT["encoder_depth"], embed_dim=vit, img_size=1024, mlp_ratio=4,
                                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                                num_heads=SMALL_VIT["encoder_num_heads"], patch_size=16, qkv_bias=True,
                                use_rel_pos=True, global_attn_indexes=SMALL_VIT["encoder_global_attn_indexes"],
                                window_size=14, out_chans=dim)
    prompt = m.PromptEncoder(embed_dim=dim, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                             mask_in_chans=16)
    transformer = m.TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=2 * dim, num_heads=8)
    kw = dict(num_multimask_outputs=3, transformer=transformer, transformer_dim=dim, iou_head_depth=3,
              iou_head_hidden_dim=dim)
    decoder = m.MaskDecoderHQ(**kw, vit_dim=vit) if family == "sam-hq" else m.MaskDecoder(**kw)
    return m.Sam(image_encoder=encoder, prompt_encoder=prompt, mask_decoder=decoder,
                 pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])


def build_official(family: str, size: str = "vit_b") -> torch.nn.Module:
    """The official model with random weights (seed 0), its decoder's output layers scaled by :data:`SPREAD`
    (masks) and :data:`IOU_SPREAD` (predicted IoU).

    ``size``: "vit_b" (``sam_model_registry["vit_b"]``), "small-vit" (the registry's ``_build_sam`` with
    :data:`SMALL_VIT`: a 2-block ViT and the real decoder) or "small" (:func:`small_official`)."""
    package = official_package(family)
    torch.manual_seed(0)
    if size == "vit_b":
        model = package.sam_model_registry["vit_b"](checkpoint=None)
    elif size == "small-vit":
        model = importlib.import_module(f"{package.__name__}.build_sam")._build_sam(**SMALL_VIT)
    else:
        model = small_official(family)
    decoder = model.mask_decoder
    heads = [(mlp, SPREAD[family]) for mlp in decoder.output_hypernetworks_mlps]
    heads += [(decoder.hf_mlp, SPREAD[family])] if family == "sam-hq" else []
    with torch.no_grad():
        for mlp, scale in [*heads, (decoder.iou_prediction_head, IOU_SPREAD)]:
            mlp.layers[-1].weight.mul_(scale)
            mlp.layers[-1].bias.mul_(scale)
    return model.eval()


def timed_pair(ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of ``repeats`` calls of each, alternating (after one untimed call of each)."""
    ours(), theirs()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in zip((ours, theirs), times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return times


def report(name: str, ours: list[float], theirs: list[float]) -> dict[str, float]:
    """Print one line (seconds, min / median, ratio official / seglab) and return its numbers."""
    row = {"seglab_min_s": min(ours), "seglab_median_s": statistics.median(ours),
           "official_min_s": min(theirs), "official_median_s": statistics.median(theirs)}
    row["ratio_min"] = row["official_min_s"] / row["seglab_min_s"]
    row["ratio_median"] = row["official_median_s"] / row["seglab_median_s"]
    print(f"{name}: seglab {row['seglab_min_s']:.4f} s min / {row['seglab_median_s']:.4f} s median, "
          f"official {row['official_min_s']:.4f} s / {row['official_median_s']:.4f} s, "
          f"official/seglab x{row['ratio_min']:.2f} (min) x{row['ratio_median']:.2f} (median)")
    return row


def run(model_id: str, image: np.ndarray, repeats: int, embed_repeats: int, points_per_side: int,
        small: bool, device: str = "cpu") -> dict[str, Any]:
    """Time seglab against the official code on ``image``, both on ``device``; prints a line per measurement
    and returns them."""
    family = seglab.get_spec(model_id).family
    package = official_package(family)
    model = build_official(family, "small" if small else "vit_b")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "official.pth"
        torch.save(model.state_dict(), path)
        ours = seglab.load_model(model_id, device=device, location=path)
    model = model.to(device)
    predictor = package.SamPredictor(model)
    h, w = image.shape[:2]
    print(f"{model_id} vs {package.__name__} on {device}, same random weights ({'small' if small else 'ViT-B'}), "
          f"image {w}x{h}; {FAST_SAM_NOTE}")

    def embed_ours() -> None:
        ours.cache.clear()
        ours.embed(image)

    rows = {"embedding": report("embedding", *timed_pair(embed_ours, partial(predictor.set_image, image),
                                                          embed_repeats))}
    click = (0.5 * w, 0.45 * h)
    rows["click-to-mask"] = report("click-to-mask", *timed_pair(
        partial(seglab.predict, ours, image, seglab.Prompt.build(points=[click])),
        partial(predictor.predict, point_coords=np.array([click]), point_labels=np.array([1])), repeats))
    params = EverythingParams(points_per_side=points_per_side)
    generator = package.SamAutomaticMaskGenerator(model, points_per_side=points_per_side)
    counts: dict[str, int] = {}

    def everything_ours() -> None:
        ours.cache.clear()  # the official generator embeds the image on every call
        counts["seglab"] = len(segment_everything(ours, image, params).masks)

    def everything_official() -> None:
        counts["official"] = len(generator.generate(image))

    name = f"segment everything ({points_per_side}x{points_per_side})"
    rows["everything"] = {**report(name, *timed_pair(everything_ours, everything_official, embed_repeats)),
                          "points_per_side": points_per_side, "masks": dict(counts)}
    note = "" if counts["official"] else (": none passed the default filters (random weights), so seglab, which "
                                          "filters before upscaling, skipped work the official code did")
    print(f"{name}: {counts['seglab']} masks from seglab, {counts['official']} from the official generator{note}")
    return {"model": model_id, "official": package.__name__, "small": small, "device": device, "image_size": [h, w],
            "fast_sam": FAST_SAM_NOTE, **rows}
