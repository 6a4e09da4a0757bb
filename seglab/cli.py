"""``python -m seglab``: list models, run one on an image, fetch weights for offline use."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import download, is_available, load_model, predict, registry, require_weights
from .errors import SeglabError, WeightsUnavailableError
from .images import load_image
from .prompts import Prompt
from .results import Masks, PanopticMap, SemanticMap

COORDINATE_OPTIONS = ("--box", "--point")
NEGATIVE = re.compile(r"-\.?\d")  # a value such as -50,-50,100,100 or -.5,3 (argparse takes it for an option)
MIN_WRAP = 12  # the narrowest a wrapped column of the terminal table gets


def _numbers(text: str, counts: tuple[int, ...], what: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be numbers separated by commas, got {text!r}") from None
    if len(vals) not in counts:
        raise argparse.ArgumentTypeError(f"{what} needs {' or '.join(map(str, counts))} numbers, got {text!r}")
    return vals


def _box(text: str) -> list[float]:
    return _numbers(text, (4,), "--box (x0,y0,x1,y1)")


def _point(text: str) -> list[float]:
    return _numbers(text, (2, 3), "--point (x,y or x,y,label)")


def join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--box -50,-50,100,100`` as ``--box=-50,-50,100,100``: argparse reads an argument starting with '-' as an
    option unless it is one plain negative number (its ``_negative_number_matcher``), so coordinates would not be
    taken as the option's value."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in COORDINATE_OPTIONS and NEGATIVE.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m seglab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="list the model registry",
                       description="One model a line; in a terminal the published and license columns wrap to "
                                   "its width, piped or redirected the rows are plain aligned columns.")
    m.add_argument("--task", choices=registry.TASKS)
    fmt = m.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table (as in the README)")

    r = sub.add_parser("predict", help="run a model on an image and write its results")
    r.add_argument("model")
    r.add_argument("image")
    r.add_argument("--box", type=_box, action="append", default=[],
                   help="x0,y0,x1,y1 (repeatable; may be negative, partly outside the image)")
    r.add_argument("--point", type=_point, action="append", default=[],
                   help="x,y[,1|0]: 1 foreground (default), 0 background (repeatable)")
    r.add_argument("--text", help="text prompt, e.g. 'dog'")
    r.add_argument("--threshold", type=float, help="score threshold where the model takes one")
    r.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    r.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    r.add_argument("--weights", help="load the weights from this file or folder (save_pretrained folder, "
                                     "torchvision state dict, or an official .pth/.pt checkpoint)")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--json", action="store_true",
                   help="print a JSON summary (files, scores, labels, sizes, protocol) instead of lines")

    d = sub.add_parser("download", help="fetch weights into the Hub / torch cache for offline use")
    d.add_argument("model", nargs="?")
    d.add_argument("--all", action="store_true")
    return p


def _models(args: argparse.Namespace) -> None:
    rows = registry.list_models(args.task)
    if args.json:
        print(json.dumps([m.to_json() for m in rows], indent=1))
        return
    if args.markdown:
        print("| id | task | weights | license | offline | published |\n|---|---|---|---|---|---|")
        for m in rows:
            print(f"| `{m.id}` | {m.task} | `{m.weights}` | {m.license} | {'yes' if m.offline else 'no'} | "
                  f"{_published(m)} |")
        return
    lines = _table(rows, shutil.get_terminal_size().columns) if sys.stdout.isatty() else _rows(rows)
    print("\n".join(lines))


def _published(spec: registry.ModelSpec) -> str:
    return "; ".join(f"{p.metric} {p.value:g} ({p.dataset})" for p in spec.published)


def _cells(rows: Sequence[registry.ModelSpec]) -> list[tuple[str, ...]]:
    """The header and one row of cells a model: id, task, offline, published, license."""
    return [("id", "task", "offline", "published", "license"),
            *((m.id, m.task, "yes" if m.offline else "no", _published(m), m.license) for m in rows)]


def _aligned(cells: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()


def _rows(rows: Sequence[registry.ModelSpec]) -> list[str]:
    """Plain rows for a pipe or file: aligned columns, nothing wrapped or cut."""
    cells = _cells(rows)
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    return [_aligned(c, widths) for c in cells]


def _table(rows: Sequence[registry.ModelSpec], width: int) -> list[str]:
    """The models within ``width`` columns: id, task and offline never split; published and license wrapped in
    their columns, or beneath the row (indented) when the terminal has no room for them beside it."""
    cells = _cells(rows)
    key = [max(len(c[i]) for c in cells) for i in range(3)]
    free = width - sum(key) - 2 * 4  # what the published and license columns share beside the key columns
    lines = []
    if free >= 2 * MIN_WRAP:
        longest = [max(len(c[i]) for c in cells) for i in (3, 4)]
        published = min(longest[0], max(free * 3 // 5, free - longest[1]), free - MIN_WRAP)
        widths = (*key, published, free - published)
        for row in cells:
            wrapped = [[text] for text in row[:3]] + [_wrap(row[3], widths[3]), _wrap(row[4], widths[4])]
            for i in range(max(map(len, wrapped))):
                lines.append(_aligned([w[i] if i < len(w) else "" for w in wrapped], widths))
        return lines
    for row in cells:
        lines.append(_aligned(row[:3], key))
        lines += ["    " + t for t in _wrap("; ".join(t for t in row[3:] if t), max(MIN_WRAP, width - 4)) if t]
    return lines


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, broken at spaces (data set names such as coco-val2017 kept whole)."""
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _prompt(args: argparse.Namespace, spec: registry.ModelSpec, height: int, width: int) -> Prompt | None:
    """The checked prompt of a promptable model (in the image), or None for the other tasks."""
    if spec.task != "promptable":
        if args.point or args.box or args.text:
            raise SeglabError(f"{spec.id} is a {spec.task} model: it takes no --point, --box or --text")
        return None
    pts = [p[:2] for p in args.point]
    labels = [int(p[2]) if len(p) == 3 else 1 for p in args.point]
    prompt = Prompt.build(points=pts or None, labels=labels or None, boxes=args.box or None,
                          text=args.text).validated(height, width)
    unsupported = [k for k in prompt.kinds if k not in spec.prompts]
    if unsupported:
        raise SeglabError(f"{spec.id} does not take {' or '.join(unsupported)} prompts; it takes "
                          f"{', '.join(spec.prompts)}")
    return prompt


def _check_weights(spec: registry.ModelSpec, weights: str | None) -> None:
    """The weights are here (or the Hub can be reached), checked before anything heavy is imported."""
    if weights is not None:
        if not Path(weights).exists():
            raise WeightsUnavailableError(f"--weights {weights}: no such file or folder")
    else:
        require_weights(spec.id)


def summary(spec: registry.ModelSpec, image: str, result: Any, paths: Sequence[Path]) -> dict[str, Any]:
    """What ``predict --json`` prints: the files written, the image size, each mask's (or segment's, or class's)
    score, label and pixel count as the files hold them (masks best first, numbered as ``result_masks.png``),
    and the test protocol the model ran under."""
    out: dict[str, Any] = {"model": spec.id, "task": spec.task, "protocol": spec.protocol or None, "image": image,
                           "image_size": list(result.image_size), "files": [str(p) for p in paths]}
    if isinstance(result, Masks):
        ranked = result.sorted("score")
        out["masks"] = [{"mask": i + 1, "score": float(ranked.scores[i]),
                         "label": ranked.label_name(i) if ranked.labels is not None else None,
                         "pixels": int(ranked.areas[i])} for i in range(len(ranked))]
    elif isinstance(result, PanopticMap):
        ids, counts = np.unique(result.segment_ids, return_counts=True)
        areas = dict(zip(ids.tolist(), counts.tolist()))
        out["segments"] = [{"segment": s.id, "score": float(s.score),
                            "label": result.class_names.get(s.category_id, str(s.category_id)),
                            "pixels": areas.get(s.id, 0)} for s in result.segments]
    elif isinstance(result, SemanticMap):
        out["classes"] = [{"class": i, "label": name, "pixels": n} for i, name, n in result.present()]
    out["note"] = getattr(result, "note", "")
    return out


def summary_lines(info: dict[str, Any]) -> list[str]:
    """The files written, one a line, each mask's score and label beside the file that holds it."""
    masks, by_name = info.get("masks"), {Path(f).name: f for f in info["files"]}
    lines = []
    for name, path in by_name.items():
        if masks and name == "result_mask.png":
            lines.append(f"{path}  {_described(masks[0])}" + ("  (the best)" if len(masks) > 1 else ""))
        elif masks and name == "result_masks.png":
            lines.append(f"{path}  masks 1-{len(masks)}, the pixel value is the mask number:")
            lines += [f"  {_described(m)}" for m in masks]
        elif name == "result_panoptic.png" and info.get("segments"):
            lines.append(f"{path}  segments, the pixel value (R + 256 G + 256^2 B) is the segment number:")
            lines += [f"  segment {s['segment']}  score {s['score']:.3g}  {s['label']}  {s['pixels']} px"
                      for s in info["segments"]]
        else:
            lines.append(path)
    return lines


def _described(mask: dict[str, Any]) -> str:
    label = f"  {mask['label']}" if mask["label"] is not None else ""
    return f"mask {mask['mask']}  score {mask['score']:.3g}{label}  {mask['pixels']} px"


def _predict(args: argparse.Namespace) -> None:
    """Check the model id, image, prompt and weights first (nothing heavy is imported for them), then run."""
    from .export import write_result
    from .render import annotate

    spec = registry.get_spec(args.model)
    image = load_image(args.image)
    prompt = _prompt(args, spec, *image.shape[:2])
    _check_weights(spec, args.weights)
    model = load_model(spec.id, device=args.device, dtype=args.dtype, location=args.weights)
    options = {} if args.threshold is None else {"threshold": args.threshold}
    result = predict(model, image, prompt, **options)
    paths = write_result(result, args.out, image=image)
    overlay = Path(args.out) / "result_overlay.png"
    if prompt is not None and overlay in paths:  # the app's picture: scores clear of the markers, prompt on top
        Image.fromarray(annotate(result, image, prompt)).save(overlay)
    info = summary(spec, args.image, result, paths)
    print(json.dumps(info, indent=1) if args.json else "\n".join(summary_lines(info)))
    if getattr(result, "note", "") and not args.json:
        print(result.note, file=sys.stderr)


def _download(args: argparse.Namespace) -> None:
    if not args.all and not args.model:
        raise SeglabError("name a model id, or pass --all")
    ids = [m.id for m in registry.MODELS] if args.all else [registry.get_spec(args.model).id]
    target = "--all" if args.all else ids[0]
    from huggingface_hub import is_offline_mode

    if is_offline_mode():
        missing = [i for i in ids if not is_available(i)]
        if missing:
            what = (f"{missing[0]}: weights for {registry.get_spec(missing[0]).weights!r} are" if len(missing) == 1
                    else f"the weights of {len(missing)} models are")
            raise WeightsUnavailableError(
                f"{what} not in the local cache and this machine is offline (HF_HUB_OFFLINE is set): run "
                f"`HF_HUB_OFFLINE=0 python -m seglab download {target}` once it is online.")
    for model_id in ids:
        try:
            fetched = download(model_id)
        except OSError as e:  # huggingface_hub's and urllib's errors: no network, or the server said no
            raise WeightsUnavailableError(_download_failed(registry.get_spec(model_id), target, e)) from None
        print(f"{model_id}: " + (", ".join(fetched) if fetched else "embedded, nothing to fetch"))


def _download_failed(spec: registry.ModelSpec, target: str, error: BaseException) -> str:
    """One sentence for a failed download: the HTTP status the server answered anywhere in the error's chain
    (huggingface_hub reports one as a missing local snapshot), or that it cannot be reached."""
    again = f"`python -m seglab download {target}`"
    cause: BaseException | None = error
    while cause is not None:
        status = getattr(getattr(cause, "response", None), "status_code", None) or getattr(cause, "code", None)
        if isinstance(status, int):
            if status in (401, 403):
                return (f"{spec.id}: the Hub refused {spec.weights!r} (HTTP {status}): the repository is gated or "
                        f"private; request access on huggingface.co, log in with `hf auth login`, then run {again}.")
            return (f"{spec.id}: downloading {spec.weights!r} failed: the server answered HTTP {status}; "
                    f"run {again} later.")
        error, cause = cause, cause.__cause__ or cause.__context__
    return (f"{spec.id}: could not download {spec.weights!r}: the server cannot be reached from this machine "
            f"({type(error).__name__}); run {again} again once it is online.")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 2 on bad input (one line on stderr), 0 when done or when the reader of stdout went away."""
    try:
        args = build_parser().parse_args(join_negative_values(sys.argv[1:] if argv is None else argv))
        try:
            {"models": _models, "predict": _predict, "download": _download}[args.command](args)
        except BrokenPipeError:
            raise
        except (SeglabError, OSError) as e:  # OSError: e.g. the output folder cannot be written
            print(f"error: {e}", file=sys.stderr)
            return 2
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `| head`: the reader has all it wanted; Python's own flush at exit must not fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
