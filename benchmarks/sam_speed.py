"""Click-to-mask latency of seglab's SAM predictor against the bare mask decoder, on random weights.

    python -m benchmarks.sam_speed [--model sam-vit-base] [--repeats 30] [--points-per-side 32]
                                   [--json results/sam_speed_cpu.json]
    python -m benchmarks.sam_speed --against-official [--model sam-hq-vit-base | sam3]   # vs the official code

The model is built in its checkpoint's layout by ``benchmarks.random_init`` (SAM / SAM-HQ ViT-B, SAM 2.1
Hiera-T) with random weights (latency does not depend on them), saved with its processor and
loaded through ``seglab.load_model(id, location=...)``, the path users run. On a real COCO image it times
the image embedding; then, on the cached embedding, each prompt kind through ``seglab.predict`` and the
same prompts as ready tensors through the transformers model's prompt encoder + mask decoder alone,
alternating the two so machine load hits both alike: their ratio is what seglab's pre/post-processing
costs. Last, segment-everything's run time beside its estimate. Cold calls are reported apart.
``--against-official`` times seglab against the official predictor and generator instead
(:mod:`benchmarks.sam_official`); with ``--model sam3``, against the official SAM 3's text prompt and click
(:mod:`benchmarks.sam3_official`).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

import seglab
from benchmarks import sam3_official, sam_official
from benchmarks.random_init import save_random_weights
from seglab import Prompt
from seglab.errors import SeglabError
from seglab.everything import EverythingParams, estimate_seconds, segment_everything
from seglab.metrics import Timer

IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-val2017-mini" / "val2017" / "000000397133.jpg"
MODELS = ("sam-vit-base", "sam-hq-vit-base", "sam2.1-hiera-tiny")  # checkpoint layouts benchmarks.random_init builds
OFFICIAL_MODELS = (*sam_official.MODELS, "sam3")  # the models --against-official times
# --tiny: SAM with a 2-layer image encoder and a 32-wide decoder, for a test that runs in seconds
TINY_SAM = {
    "vision_config": {"hidden_size": 32, "output_channels": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                      "global_attn_indexes": [1], "num_pos_feats": 16, "mlp_dim": 64},
    "prompt_encoder_config": {"hidden_size": 32},
    "mask_decoder_config": {"hidden_size": 32, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
}
TARGET_CLICK_P50_MS, TARGET_OVERHEAD = 100.0, 0.10


def save_random_model(model_id: str, folder: Path, tiny: bool = False) -> Path:
    """``model_id``'s checkpoint layout with random weights (``benchmarks.random_init``), or with ``tiny`` a tiny
    SAM, saved with its processor."""
    if not tiny:
        return save_random_weights(seglab.get_spec(model_id), folder)
    torch.manual_seed(0)
    transformers.SamModel(transformers.SamConfig(**TINY_SAM)).save_pretrained(folder)
    transformers.SamProcessor(transformers.SamImageProcessor()).save_pretrained(folder)
    return folder


def prompt_kinds(height: int, width: int) -> dict[str, list[Prompt]]:
    """Each kind's prompts, one per call; in a kind with several, each call is fed the previous best logits."""
    a, b, c = (0.5 * width, 0.45 * height), (0.3 * width, 0.6 * height), (0.65 * width, 0.35 * height)
    return {
        "click": [Prompt.build(points=[a])],
        "box": [Prompt.build(box=[0.2 * width, 0.2 * height, 0.7 * width, 0.8 * height])],
        "refine (3 clicks)": [Prompt.build(points=[a]), Prompt.build(points=[a, b], labels=[1, 0]),
                              Prompt.build(points=[a, b, c], labels=[1, 0, 1])],
    }


def run_seglab(predictor: Any, image: np.ndarray, prompts: list[Prompt]) -> np.ndarray:
    """The public path: ``seglab.predict`` per call, the best mask's logits fed to the next; the last best logits."""
    best = None
    for prompt in prompts:
        best = seglab.predict(predictor, image, prompt, mask_input=best).logits[0]
    return best


def decoder_inputs(predictor: Any, embedding: Any, prompt: Prompt) -> dict[str, Any]:
    """The prompt as the tensors the transformers model takes, in its input coordinates (built before timing)."""
    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, device=predictor.device).to(predictor.dtype)

    out: dict[str, Any] = {}
    if prompt.points is not None:
        out["input_points"] = tensor(embedding.to_input(prompt.points)[None, None])
        out["input_labels"] = torch.as_tensor(prompt.point_labels[None, None], device=predictor.device)
    if prompt.boxes is not None:
        out["input_boxes"] = tensor(embedding.to_input(prompt.boxes.reshape(-1, 2, 2)).reshape(1, -1, 4))
    return out


def run_decoder(model: Any, embedding: Any, inputs: list[dict[str, Any]]) -> torch.Tensor:
    """Prompt encoder + mask decoder alone on ready tensors, with the same multimask rule and feedback as
    :meth:`SamPredictor.segment`: several masks for a lone click, the best logits fed to the next call.
    Returns the last best low-resolution logits (1, 1, 256, 256)."""
    best = None
    with torch.inference_mode():
        for kw in inputs:
            multimask = best is None and "input_boxes" not in kw and kw["input_points"].shape[2] == 1
            fed = {} if best is None else {"input_masks": best}
            out = model(**embedding.features, **kw, **fed, multimask_output=multimask)
            best = out.pred_masks[0, 0, out.iou_scores[0, 0].argmax()][None, None]
    return best


def stats(ms: list[float]) -> dict[str, float]:
    """p50 / p90 / mean, and the minimum: the least disturbed call when other processes share the CPUs."""
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "mean_ms": float(np.mean(ms)), "min_ms": float(np.min(ms))}


def time_pair(ours: Callable[[], Any], bare: Callable[[], Any], warmup: int, repeats: int,
              device: str) -> tuple[dict[str, float], dict[str, float]]:
    """Cold call of each, ``warmup`` untimed rounds, then ``repeats`` rounds timing one call of each in turn."""
    times: dict[Callable[[], Any], list[float]] = {ours: [], bare: []}
    cold = {}
    for fn in times:
        with Timer(device) as t:
            fn()
        cold[fn] = t.ms
    for _ in range(warmup):
        ours(), bare()
    for _ in range(repeats):
        for fn, ms in times.items():
            with Timer(device) as t:
                fn()
            ms.append(t.ms)
    return ({**stats(times[ours]), "cold_ms": cold[ours]}, {**stats(times[bare]), "cold_ms": cold[bare]})


def time_embedding(predictor: Any, image: np.ndarray, repeats: int, device: str) -> dict[str, float]:
    """The image encoder (the processor included), the cache emptied before each call; the first call apart."""
    ms = []
    for _ in range(repeats + 1):
        predictor.cache.clear()
        with Timer(device) as t:
            predictor.embed(image)
        ms.append(t.ms)
    return {**stats(ms[1:]), "cold_ms": ms[0]}


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.exists() else []
    return {"processor": platform.processor() or platform.machine(), "cpu": names[0] if names else "",
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg()[0], "nice": os.nice(0), "python": platform.python_version()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=(*MODELS, "sam3"), default="sam-vit-base")
    ap.add_argument("--image", type=Path, default=IMAGE, help="a real image (default: a 640 x 427 COCO val2017 photo)")
    ap.add_argument("--repeats", type=int, default=30, help="warm timed calls per prompt kind")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls after the cold one")
    ap.add_argument("--embed-repeats", type=int, default=3, help="warm timed image-encoder calls")
    ap.add_argument("--points-per-side", type=int, default=EverythingParams.points_per_side,
                    help="segment-everything's point grid (default: the automatic generator's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tiny", action="store_true", help="a tiny SAM encoder instead of the real layout (for tests)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--against-official", action="store_true",
                    help="time seglab against the official SAM / SAM-HQ / SAM 3 code on the same weights "
                         "(--tiny: small ones)")
    args = ap.parse_args(argv)
    if args.against_official and args.model not in OFFICIAL_MODELS:
        ap.error(f"--against-official runs {', '.join(OFFICIAL_MODELS)}")
    if args.model == "sam3" and not args.against_official:
        ap.error("sam3 is timed --against-official only")
    if args.tiny and args.model != "sam-vit-base" and not args.against_official:
        ap.error("--tiny builds a tiny sam-vit-base only")
    if min(args.repeats, args.embed_repeats, args.points_per_side) < 1 or args.warmup < 0:
        ap.error("--repeats, --embed-repeats and --points-per-side must be at least 1, --warmup at least 0")
    return args


def time_kinds(predictor: Any, image: np.ndarray, warmup: int, repeats: int,
               device: str) -> dict[str, dict[str, Any]]:
    """Each prompt kind through seglab and through the bare decoder, on the cached embedding; prints a line each."""
    embedding = predictor.embed(image)
    kinds = {}
    for kind, prompts in prompt_kinds(*image.shape[:2]).items():
        inputs = [decoder_inputs(predictor, embedding, p) for p in prompts]
        ours, bare = time_pair(partial(run_seglab, predictor, image, prompts),
                               partial(run_decoder, predictor.model, embedding, inputs), warmup, repeats, device)
        kinds[kind] = {**ours, "decoder": bare, "overhead_ratio": ours["p50_ms"] / bare["p50_ms"]}
        label = "click-to-mask" if kind == "click" else kind
        print(f"{label} p50 {ours['p50_ms']:.1f} ms (decoder alone {bare['p50_ms']:.1f} ms: "
              f"x{kinds[kind]['overhead_ratio']:.3f}), p90 {ours['p90_ms']:.1f} ms, min {ours['min_ms']:.1f} ms "
              f"(decoder {bare['min_ms']:.1f} ms), cold {ours['cold_ms']:.1f} ms")
    return kinds


def time_everything(predictor: Any, image: np.ndarray, points_per_side: int) -> dict[str, Any]:
    """segment_everything's run time beside its estimate (made first, on the cached embedding); prints a line."""
    params = EverythingParams(points_per_side=points_per_side)
    estimate = estimate_seconds(predictor, image, params)
    result = segment_everything(predictor, image, params)
    note = "" if len(result.masks) else ("no mask passed the IoU / stability filters (random weights), so "
                                         "upscaling, NMS and filtering of kept masks did not run: a lower bound")
    print(f"segment everything ({points_per_side}x{points_per_side} points, {result.batches} batches): "
          f"{result.seconds:.1f} s (estimate {estimate:.1f} s), {len(result.masks)} masks {note}")
    return {"points_per_side": points_per_side, "seconds": result.seconds, "estimate_seconds": estimate,
            "masks": len(result.masks), "points": result.points, "batches": result.batches, "note": note}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print one line per measurement and return (and optionally write) the results."""
    args = parse_args(argv)
    image = seglab.load_image(args.image)
    host = machine()
    print(f"{host['cpu'] or host['processor']}: {host['cpu_count']} CPUs, torch threads {host['torch_threads']}, "
          f"load average {host['load_average']:.1f}")
    if args.against_official and args.model == "sam3":
        result = {"machine": host, **sam3_official.run(image, args.repeats, args.embed_repeats, small=args.tiny,
                                                       device=args.device)}
        return write_json(result, args.json)
    if args.against_official:
        result = {"machine": host, **sam_official.run(args.model, image, args.repeats, args.embed_repeats,
                                                      args.points_per_side, small=args.tiny, device=args.device)}
        return write_json(result, args.json)
    with tempfile.TemporaryDirectory() as tmp:
        predictor = seglab.load_model(args.model, device=args.device,
                                      location=save_random_model(args.model, Path(tmp), args.tiny))
    layout = "tiny SAM (for tests)" if args.tiny else "the checkpoint's layout (benchmarks.random_init)"
    print(f"{args.model} ({layout}, random weights: latency only), {args.image.name} {image.shape[1]}x{image.shape[0]}")

    embedding = time_embedding(predictor, image, args.embed_repeats, args.device)
    print(f"embedding p50 {embedding['p50_ms']:.0f} ms (cold {embedding['cold_ms']:.0f} ms)")
    kinds = time_kinds(predictor, image, args.warmup, args.repeats, args.device)
    everything = time_everything(predictor, image, args.points_per_side)
    click = kinds["click"]
    met = click["p50_ms"] <= TARGET_CLICK_P50_MS and click["overhead_ratio"] <= 1 + TARGET_OVERHEAD
    print(f"targets (click-to-mask p50 <= {TARGET_CLICK_P50_MS:.0f} ms, overhead <= {TARGET_OVERHEAD:.0%}): "
          f"{'met' if met else 'NOT met'}")
    no_gpu = "none available to this run: no GPU numbers recorded"
    result = {
        "machine": {**host, "load_average_end": os.getloadavg()[0]},
        "torch": torch.__version__, "transformers": transformers.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": args.device, "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else no_gpu,
        "model": args.model, "layout": layout, "weights": "random (latency only)",
        "image": args.image.name, "image_size": list(image.shape[:2]), "repeats": args.repeats, "warmup": args.warmup,
        "embedding": embedding, "kinds": kinds, "everything": everything,
        "targets": {"click_p50_ms": TARGET_CLICK_P50_MS, "overhead": TARGET_OVERHEAD, "met": met},
    }
    return write_json(result, args.json)


def write_json(result: dict[str, Any], path: Path | None) -> dict[str, Any]:
    """Write ``result`` to ``path`` (when given) and return it."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    try:
        main()
    except SeglabError as err:
        sys.exit(f"error: {err}")
