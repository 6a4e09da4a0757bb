"""``python -m seglab``: list models, run one on an image, fetch weights for offline use."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import registry
from .errors import SeglabError


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
    print(f"{'id':46} {'task':11} {'offline':7} {'published':24} license")
    for m in rows:
        pub = ", ".join(f"{p.metric} {p.value:g} ({p.dataset})" for p in m.published[:1])
        print(f"{m.id:46} {m.task:11} {'yes' if m.offline else 'no':7} {pub:24} {m.license}")


def _predict(args: argparse.Namespace) -> None:
    from .export import write_result
    from .images import load_image
    from .loading import load_model, predict
    from .prompts import Prompt

    model = load_model(args.model, device=args.device, dtype=args.dtype)
    image = load_image(args.image)
    prompt = None
    if model.spec.task == "promptable":
        pts = [p[:2] for p in args.point]
        labels = [int(p[2]) if len(p) == 3 else 1 for p in args.point]
        prompt = Prompt.build(points=pts or None, labels=labels or None, boxes=args.box or None, text=args.text)
    elif args.point or args.box or args.text:
        raise SeglabError(f"{args.model} is a {model.spec.task} model: it takes no --point, --box or --text")
    options = {} if args.threshold is None else {"threshold": args.threshold}
    result = predict(model, image, prompt, **options)
    for path in write_result(result, args.out, image=image):
        print(path)
    if getattr(result, "note", ""):
        print(result.note, file=sys.stderr)


def _download(args: argparse.Namespace) -> None:
    from .loading import download

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
