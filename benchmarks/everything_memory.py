"""Segment everything on a phone-sized photo, as the app's server does it: peak memory, time and its estimate.

For each size (megapixels, 4:3) a fresh process loads the example photo, enlarges it to that size (a JPEG, as
a phone writes it), and runs the Segment tab's handlers with the offline default model (no weights needed):
upload, the estimate, segment everything, then "Prepare downloads" with every mask. It prints the process's
peak RSS (VmHWM) against its RSS once imports and the model are loaded, the estimate (shown before the run) against the run's time,
the masks kept and the masks in the downloaded JSON.

    python -m benchmarks.everything_memory [--sizes 0.27,1,4,12] [--repeat 1] [--model embedded-u2netp-grabcut]

Size 0.27 is the example itself (640 x 427). The machine's cores are shared: times vary, memory does not much.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "000000397133.jpg"


def _kib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def one(megapixels: float, model: str) -> dict:
    """One size in this process: what the app's handlers cost for it."""
    import cv2

    import seglab
    from ui.common import ModelSource
    from ui.everything import slider_defaults
    from ui.segment import SegmentHandlers

    image = seglab.load_image(EXAMPLE)
    h, w = image.shape[:2]
    if abs(megapixels - h * w / 1e6) > 0.01:
        w = round((megapixels * 1e6 * 4 / 3) ** 0.5)
        h = round(w * 3 / 4)
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC)
    folder = Path(tempfile.mkdtemp())
    path = folder / "photo.jpg"
    cv2.imwrite(str(path), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    del image
    handlers = SegmentHandlers(ModelSource())
    handlers.source.load(model)
    settings = slider_defaults(model)
    session = handlers.new_image(str(path), model)[0]
    session.image
    base = _kib("VmRSS") / 1024
    t = time.perf_counter()
    estimate_line = handlers.estimate(str(path), session, model, *settings)
    estimate_s = time.perf_counter() - t
    t = time.perf_counter()
    session, *_, done = handlers.everything(str(path), session, model, *settings)
    run_s = time.perf_counter() - t
    t = time.perf_counter()
    files = handlers.downloads(session, "all")
    downloads_s = time.perf_counter() - t
    written = json.loads(Path(next(f for f in files if f.endswith("segment.json"))).read_text())
    return {"size": f"{w}x{h}", "megapixels": round(w * h / 1e6, 2), "masks": len(session.result),
            "json_masks": len(written["masks"]), "estimate_s": float(estimate_line.split("**")[1].split()[0]),
            "estimating_s": estimate_s, "run_s": run_s, "downloads_s": downloads_s, "base_mb": base,
            "peak_mb": _kib("VmHWM") / 1024, "done": done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="0.27,1,4,12")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--model", default="embedded-u2netp-grabcut")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.model)))
        return
    print("size       MP     masks  in JSON  estimating s  estimate s  run s (min / median)  downloads s  "
          "RSS base MB  peak MB (min / median)")
    for size in (float(s) for s in args.sizes.split(",")):
        rows = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, "-m", "benchmarks.everything_memory", "--one", str(size),
                                  "--model", args.model], capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        med = {key: statistics.median(r[key] for r in rows) for key in rows[0] if isinstance(rows[0][key], float)}
        low = {key: min(r[key] for r in rows) for key in med}
        r = rows[0]
        print(f"{r['size']:<10} {r['megapixels']:<6} {r['masks']:<6} {r['json_masks']:<8} "
              f"{med['estimating_s']:<13.1f} {med['estimate_s']:<11.1f} {low['run_s']:.1f} / {med['run_s']:<14.1f} "
              f"{med['downloads_s']:<12.1f} {med['base_mb']:<12.0f} {low['peak_mb']:.0f} / {med['peak_mb']:.0f}",
              flush=True)
    print("(each size in a fresh process; the estimate is of the run that follows it, the run reusing its work)")


if __name__ == "__main__":
    main()
