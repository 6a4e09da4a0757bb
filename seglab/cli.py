"""``python -m seglab``: list models, run one on an image, fetch weights for offline use."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from . import download, load_model, predict, registry, require_weights
from .errors import SeglabError, WeightsUnavailableError
from .images import load_image
from .prompts import Prompt


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m seglab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="list the model registry")
    m.add_argument("--task", choices=registry.TASKS)
    fmt = m.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table (as in the README)")

    r = sub.add_parser("predict", help="run a model on an image and write its results")
    r.add_argument("model")
    r.add_argument("image")
    r.add_argument("--box", type=_box, action="append", default=[], help="x0,y0,x1,y1 (repeatable)")
    r.add_argument("--point", type=_point, action="append", default=[],
                   help="x,y[,1|0]: 1 foreground (default), 0 background (repeatable)")
    r.add_argument("--text", help="text prompt, e.g. 'dog'")
    r.add_argument("--threshold", type=float, help="score threshold where the model takes one")
    r.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    r.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    r.add_argument("--weights", help="load the weights from this file or folder (save_pretrained folder, "
                                     "torchvision state dict, or an official .pth/.pt checkpoint)")
    r.add_argument("--out", required=True, help="output folder")

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
            pub = "; ".join(f"{p.metric} {p.value:g} ({p.dataset})" for p in m.published)
            print(f"| `{m.id}` | {m.task} | `{m.weights}` | {m.license} | {'yes' if m.offline else 'no'} | {pub} |")
        return
    _table(rows, shutil.get_terminal_size().columns)


def _table(rows: Sequence[registry.ModelSpec], width: int) -> None:
    """The models as a plain-text table within ``width`` columns, long cells wrapped inside their column."""
    header = ("id", "task", "offline", "published", "license")
    cells = [(m.id, m.task, "yes" if m.offline else "no",
              "; ".join(f"{p.metric} {p.value:g} ({p.dataset})" for p in m.published), m.license) for m in rows]
    fixed = [max(len(c[i]) for c in [header, *cells]) for i in (1, 2)]
    free = max(30, width - sum(fixed) - 4 * 2)  # what the id, published and license columns share
    ids = min(max(len(c[0]) for c in cells), max(12, free * 2 // 5))
    published = max(10, (free - ids) * 3 // 5)
    widths = (ids, fixed[0], fixed[1], published, max(8, free - ids - published))
    for row in [header, *cells]:
        wrapped = [textwrap.wrap(text, w, break_on_hyphens=True) or [""] for text, w in zip(row, widths)]
        for line in range(max(len(w) for w in wrapped)):
            parts = [(w[line] if line < len(w) else "").ljust(n) for w, n in zip(wrapped, widths)]
            print("  ".join(parts).rstrip())


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
    for path in paths:
        print(path)
    if getattr(result, "note", ""):
        print(result.note, file=sys.stderr)


def _download(args: argparse.Namespace) -> None:
    if not args.all and not args.model:
        raise SeglabError("name a model id, or pass --all")
    ids = [m.id for m in registry.MODELS] if args.all else [registry.get_spec(args.model).id]
    for model_id in ids:
        fetched = download(model_id)
        print(f"{model_id}: " + (", ".join(fetched) if fetched else "embedded, nothing to fetch"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        {"models": _models, "predict": _predict, "download": _download}[args.command](args)
    except SeglabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. the output folder cannot be written, or a download failed
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
