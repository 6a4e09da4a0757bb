"""seglab against the official SAM / SAM-HQ code on the same weights: the official models with random weights
(shared with ``tests/test_models_sam_official.py``) and the timing run behind ``python -m benchmarks.sam_speed
--against-official``.

It times, on one image, the image embedding, click-to-mask on the embedded image, and segment everything
after the embedding (the official generator's predictor is made to keep the embedding it was given) at the
paper's defaults and at a stability threshold random weights pass, checking that the masks match one to one;
seglab's adapter is loaded from the official ``.pth`` through ``seglab.load_model(..., location=...)``. The
two run alternately so that machine load hits both alike; it prints seconds (min and median) and the ratio
official / seglab (> 1: seglab is faster), and transformers' ``mask-generation`` pipeline once against seglab
(both embedding the image). The PyPI package ``segment-anything-fast`` 0.1.2 ships FastSAM (a YOLO model),
not the PyTorch team's fast SAM, so it has no equal-weights run to time.
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
# segment everything's settings timed: the paper's defaults, then a stability threshold that random weights pass,
# so that masks come out, go through NMS and are compared one to one
EVERYTHING = {"everything": ("defaults", {}), "everything_masks": ("stability 0.5", {"stability_score_thresh": 0.5})}
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

    ``size``: "vit_b", "vit_l" or "vit_h" (``sam_model_registry[size]``), "small-vit" (the registry's
    ``_build_sam`` with :data:`SMALL_VIT`: a 2-block ViT and the real decoder) or "small"
    (:func:`small_official`)."""
    package = official_package(family)
    torch.manual_seed(0)
    if size in ("vit_b", "vit_l", "vit_h"):
        model = package.sam_model_registry[size](checkpoint=None)
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


def timed_pair(ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int,
               warmup: bool = True) -> tuple[list[float], list[float]]:
    """Seconds of ``repeats`` calls of each, alternating (after one untimed call of each with ``warmup``)."""
    if warmup:
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
    rows.update(everything_rows(ours, model, package, image, points_per_side, embed_repeats))
    rows["pipeline"] = pipeline_row(ours, image, points_per_side)
    return {"model": model_id, "official": package.__name__, "small": small, "device": device, "image_size": [h, w],
            "fast_sam": FAST_SAM_NOTE, **rows}


def everything_rows(ours: Any, model: torch.nn.Module, package: Any, image: np.ndarray, points_per_side: int,
                    repeats: int) -> dict[str, dict[str, Any]]:
    """Segment everything after the embedding (both reuse it), seglab against the official generator, for each
    of :data:`EVERYTHING`; each row with how many masks each returned and how well they match one to one."""
    rows = {}
    for key, (name, extra) in EVERYTHING.items():
        params = EverythingParams(points_per_side=points_per_side, **extra)
        generator = package.SamAutomaticMaskGenerator(model, points_per_side=points_per_side, **extra)
        reuse_embedding(generator.predictor, image)
        ours.embed(image)
        out: dict[str, Any] = {}

        def run_ours(params: EverythingParams = params) -> None:
            out["seglab"] = segment_everything(ours, image, params).masks

        def run_official(generator: Any = generator) -> None:
            out["official"] = generator.generate(image)

        label = f"segment everything ({points_per_side}x{points_per_side}, {name}, after the embedding)"
        rows[key] = {**report(label, *timed_pair(run_ours, run_official, repeats, warmup=False)),
                     "points_per_side": points_per_side, "settings": extra,
                     **agreement(out["seglab"], [r["segmentation"] for r in out["official"]])}
        print(f"{label}: {rows[key]['masks']['seglab']} masks from seglab, {rows[key]['masks']['official']} from "
              f"the official generator, matched one to one at IoU >= {rows[key]['matched_min_iou']:.4f}")
    return rows


def reuse_embedding(predictor: Any, image: np.ndarray) -> None:
    """Embed ``image`` in the official ``predictor`` once and make the generator's set / reset calls keep it."""
    predictor.set_image(image)
    predictor.set_image = lambda *args, **kwargs: None
    predictor.reset_image = lambda: None


def agreement(ours: Any, theirs: list[np.ndarray]) -> dict[str, Any]:
    """Mask counts and the lowest IoU over a one-to-one matching of the two sets (1.0 when both are empty)."""
    from pycocotools import mask as mask_utils
    from scipy.optimize import linear_sum_assignment

    counts = {"seglab": len(ours), "official": len(theirs)}
    if not len(ours) or not len(theirs):
        return {"masks": counts, "matched_min_iou": 1.0 if len(ours) == len(theirs) else 0.0}

    def encode(masks: list[np.ndarray]) -> list[dict[str, Any]]:
        return mask_utils.encode(np.asfortranarray(np.stack(masks).transpose(1, 2, 0).astype(np.uint8)))

    iou = mask_utils.iou(encode(list(ours.masks)), encode(theirs), [0] * len(theirs))
    rows, cols = linear_sum_assignment(-iou)
    worst = float(iou[rows, cols].min()) if len(ours) == len(theirs) else 0.0
    return {"masks": counts, "matched_min_iou": worst}


def pipeline_row(ours: Any, image: np.ndarray, points_per_side: int) -> dict[str, Any]:
    """transformers' ``mask-generation`` pipeline on seglab's loaded model against seglab, one run each, both
    embedding the image (the pipeline has no embedding cache) at the official generator's defaults."""
    from PIL import Image
    from transformers import pipeline

    try:
        pipe = pipeline("mask-generation", model=ours.model, image_processor=ours.processor.image_processor,
                        points_per_batch=EverythingParams.points_per_batch, device=ours.device)
    except Exception as e:  # noqa: BLE001 - a pipeline that cannot be built is reported, not fatal
        print(f"transformers pipeline: not timed ({type(e).__name__}: {e})")
        return {"error": f"{type(e).__name__}: {e}"}
    pil = Image.fromarray(image)
    defaults = EverythingParams(points_per_side=points_per_side)

    def run_ours() -> None:
        ours.cache.clear()
        segment_everything(ours, image, defaults)

    def run_pipeline() -> None:
        pipe(pil, points_per_crop=points_per_side, pred_iou_thresh=defaults.pred_iou_thresh,
             stability_score_thresh=defaults.stability_score_thresh, crops_nms_thresh=defaults.box_nms_thresh)

    ours_s, theirs_s = timed_pair(run_ours, run_pipeline, 1, warmup=False)
    row = {"seglab_s": ours_s[0], "pipeline_s": theirs_s[0], "ratio": theirs_s[0] / ours_s[0]}
    print(f"segment everything ({points_per_side}x{points_per_side}, defaults, embedding included): seglab "
          f"{row['seglab_s']:.2f} s, transformers pipeline {row['pipeline_s']:.2f} s, "
          f"pipeline/seglab x{row['ratio']:.2f}")
    return row
