"""What the app adds where a user feels it, each measured beside its reference in the same run (min / median):

- a click: ``/segment_prompt`` through gradio_client against ``python app.py`` on 127.0.0.1 (the canvas
  fetched, as a browser fetches it), alternated with ``seglab.predict`` in this process (same model, image and
  boxes, each way's a pixel apart so that none finds another's per-box work cached), with a bare Gradio app's
  echo endpoint (what gradio_client and Gradio's queue cost any app), over Gradio's HTTP API, and through a
  gradio_client given one SSL context (by default it loads the CA bundle again for every request);
- start-up: ``python app.py`` to its first HTTP 200 vs a bare Gradio Blocks app;
- the first click (a point) after an upload, with the image prepared on upload (``/segment_prepare``, as the browser
  does) and without;
- throughput with 1, 2 and 4 concurrent clients (clicks per second, p50) for each ``--slots`` setting of the
  app (``SEGLAB_APP_SLOTS``; 1 is the app before slots: one run at a time with every core);
- a click as its user feels it: in headless Chromium (``--parts browser``, :mod:`.app_speed_browser`; selenium
  from requirements-dev.txt), the prompt set and Segment pressed until the canvas shows the new picture, decoded,
  against ``seglab.predict`` alternated, and a bare app's echo in the same browser; the browser shares this
  machine's cores with the app;
- a long-running app: a call (wall time, and the server's CPU) on a bare echo app whose queue has served 10,000
  events, with Gradio's default of rebuilding its monitoring summary after every event against the app's setting.

    python -m benchmarks.app_speed [--model sam-vit-base --random-weights] [--clicks 20] [--starts 3]
                                   [--slots 1,2] [--parts startup,clicks,first,browser,throughput,history]

``--random-weights`` builds the model's real architecture with random weights (benchmarks.random_init) so
its timing needs no download. Numbers on a shared machine are noisy: compare ratios from one run.
"""
from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import seglab
from benchmarks.app_harness import CALL_TIMEOUT_S, ROOT, alternated, boxes, start, stop, summary, timed
from benchmarks.app_speed_browser import browser_clicks
from ui import ANALYTICS_EVERY
from ui.common import SLOTS, ModelSource, threads_per_slot
from ui.segment import SegmentHandlers

COCO = Path(os.environ.get("SEGLAB_SHARED_DATA", ROOT.parent / "shared" / "data")) / "coco-val2017-mini" / "val2017"
BARE_APP = ("import gradio as gr, os\nwith gr.Blocks() as demo:\n    gr.Markdown('bare')\n"
            "demo.launch(server_name='127.0.0.1', server_port=int(os.environ['GRADIO_SERVER_PORT']))")
# the transport alone: a bare app whose endpoint hands its text back, called as the app's click is
ECHO_APP = ("import gradio as gr, os\nwith gr.Blocks() as demo:\n    t = gr.Textbox()\n"
            "    gr.Button().click(lambda x: x, t, t, api_name='echo')\ndemo.queue(default_concurrency_limit=None)\n"
            "demo.launch(server_name='127.0.0.1', server_port=int(os.environ['GRADIO_SERVER_PORT']))")
# the echo app after 10,000 events: Gradio's monitoring history as full as a long-running app's
PAST_EVENTS = 10_000
HISTORY_APP = ECHO_APP.replace("demo.launch(", (
    f"import time\nfor i in range({PAST_EVENTS}):\n"
    "    demo._queue.event_analytics[f'past{i}'] = {'time': time.time(), 'status': 'success', 'process_time': 0.1,"
    " 'function': f'fn{i % 8}', 'session_hash': f's{i % 500}'}\n"
    "demo.launch("))

# the first click after an upload: a point, which needs the image's prepared work (an embedding, the offline
# model's region tree); a box on the offline model needs its own crop's saliency whatever was prepared
FIRST_CLICK = '{"points": [[175, 150]], "labels": [1]}'


class HttpCaller:
    """Gradio's HTTP API as a browser or curl uses it (``POST /gradio_api/call/NAME``, then the event stream of
    ``GET .../EVENT_ID`` read to its ``complete`` event) on one kept-alive connection, in a session: the way to
    time the app without gradio_client, whose reader polls for messages every 50 ms."""

    def __init__(self, url: str, session_hash: str) -> None:
        import httpx

        self.base = url.rstrip("/") + "/gradio_api"
        self.session_hash = session_hash
        self.http = httpx.Client(timeout=CALL_TIMEOUT_S)

    def call(self, api_name: str, data: list, fetch_files: bool = False) -> list:
        """The endpoint's outputs; with ``fetch_files`` each output file is downloaded too."""
        posted = self.http.post(f"{self.base}/call/{api_name}", json={"data": data, "session_hash": self.session_hash})
        event_id = posted.raise_for_status().json()["event_id"]
        event, outputs = None, None  # a stream that ends without its last event leaves both unset
        with self.http.stream("GET", f"{self.base}/call/{api_name}/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event in ("complete", "error"):
                    outputs = json.loads(line[6:])
                    break
        if event != "complete":
            raise RuntimeError(f"/{api_name} answered {event}: {outputs}")
        for value in outputs if fetch_files else ():
            if isinstance(value, dict) and value.get("url"):
                self.http.get(value["url"]).raise_for_status()
        return outputs


def one_ssl_context() -> ssl.SSLContext:
    """The default certificate checks, with the CA bundle loaded once (httpx's own bundle, certifi)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def startup(starts: int, env: dict[str, str]) -> None:
    app, bare = [], []
    for _ in range(starts):  # interleaved, so that load on the machine hits both alike
        proc, _, seconds = start([sys.executable, "app.py"], env)
        stop(proc)
        app.append(seconds)
        proc, _, seconds = start([sys.executable, "-c", BARE_APP], env)
        stop(proc)
        bare.append(seconds)
    print(summary("start-up, python app.py to first HTTP 200", app, "s"))
    print(summary("start-up, bare gr.Blocks app", bare, "s"))
    print(f"start-up ratio app / bare: median x{statistics.median(app) / statistics.median(bare):.2f}, "
          f"min x{min(app) / min(bare):.2f}")


def clicks(url: str, model_id: str, location: str | None, image_path: Path, n: int, env: dict[str, str]) -> None:
    """A click through the app (its canvas fetched, and not), a call of a bare app's echo endpoint (what
    gradio_client and Gradio's queue cost any app) and ``seglab.predict``, alternated; same model, image, boxes."""
    from gradio_client import Client, handle_file

    seglab.set_threads(threads_per_slot())  # before loading: in-process runs get the app's threads a model run
    print(f"in-process runs use the app's {threads_per_slot()} thread(s) a model run ({SLOTS} slots)")
    adapter = seglab.load_model(model_id, location=location)
    image = seglab.load_image(image_path)
    client = Client(url, verbose=False)
    unfetched = Client(url, verbose=False, download_files=False)
    # gradio_client makes each request (the call, each file fetched) with a new httpx client, which loads the CA
    # bundle again (about 40 ms here, even for http://); given one SSL context it checks certificates with that
    once = Client(url, verbose=False, ssl_verify=one_ssl_context())
    for c in (client, unfetched, once):
        c.predict(handle_file(str(image_path)), model_id, api_name="/segment_load_image")
        c.predict(model_id, api_name="/segment_prepare")
    handlers = SegmentHandlers(ModelSource(Path(location).parent if location else None))
    session = handlers.new_image(str(image_path), model_id)[0]
    echo_proc, echo_url, _ = start([sys.executable, "-c", ECHO_APP], env)
    try:
        echo = Client(echo_url, verbose=False)
        echo_once = Client(echo_url, verbose=False, ssl_verify=one_ssl_context())
        height, width = image.shape[:2]
        box_list = boxes(np.random.default_rng(0), n + 2, width, height)

        def prompt(i: int, way: int) -> str:  # each way its own copy of box i, moved a pixel further per way, so
            x0, y0, x1, y1 = box_list[i]  # that none finds the box's saliency cached by another: each pays for it
            return json.dumps({"boxes": [[x0 + way, y0 + way, min(x1 + way, width), min(y1 + way, height)]]})

        http = HttpCaller(url, client.session_hash)
        echo_http = HttpCaller(echo_url, "echo-session")
        through, unfetched_s, transport, reference, handler, direct, direct_echo, once_s, once_echo = alternated(
            n, lambda i: client.predict(prompt(i, 0), model_id, "", api_name="/segment_prompt"),
            lambda i: unfetched.predict(prompt(i, 1), model_id, "", api_name="/segment_prompt"),
            lambda i: echo.predict(prompt(i, 2), api_name="/echo"),
            lambda i: seglab.predict(adapter, image, seglab.Prompt.build(boxes=json.loads(prompt(i, 3))["boxes"])),
            lambda i: handlers.prompt(session, prompt(i, 4), model_id, ""),
            lambda i: http.call("segment_prompt", [prompt(i, 5), model_id, ""], fetch_files=True),
            lambda i: echo_http.call("echo", [prompt(i, 2)]),
            lambda i: once.predict(prompt(i, 6), model_id, "", api_name="/segment_prompt"),
            lambda i: echo_once.predict(prompt(i, 2), api_name="/echo"))
    finally:
        stop(echo_proc)
    print(summary("the same click over Gradio's HTTP API (POST /call, read the event stream, fetch the canvas)",
                  direct))
    print(summary("transport alone over the HTTP API: the bare app's echo", direct_echo))
    med_direct, med_ref = statistics.median(direct), statistics.median(reference)
    print(f"click ratio over the HTTP API / predict: median x{med_direct / med_ref:.2f}, "
          f"min x{min(direct) / min(reference):.2f}; the app's own work over it "
          f"{(med_direct - statistics.median(direct_echo) - med_ref) * 1000:+.0f} ms")
    print(summary(f"click through the app ({model_id}, {image_path.name}, {n} boxes, canvas fetched)", through))
    print(summary("the same click, canvas left on the server", unfetched_s))
    print(summary("seglab.predict in this process, same boxes", reference))
    print(summary("the Segment tab's handler in this process (JSON -> masks -> canvas), same boxes", handler))
    print(summary("transport alone: a bare Gradio app's echo endpoint through gradio_client", transport))
    print(summary("the click through gradio_client given one SSL context (canvas fetched)", once_s))
    print(summary("the echo through gradio_client given one SSL context", once_echo))
    print(f"click ratio app / predict through gradio_client given one SSL context: "
          f"median x{statistics.median(once_s) / statistics.median(reference):.2f}, "
          f"min x{min(once_s) / min(reference):.2f}")
    med = {k: statistics.median(v) for k, v in (("app", through), ("ref", reference), ("echo", transport),
                                                 ("unfetched", unfetched_s))}
    print(f"click ratio app / predict: median x{med['app'] / med['ref']:.2f}, min x{min(through) / min(reference):.2f}")
    print(f"handler / predict: median x{statistics.median(handler) / med['ref']:.2f}, "
          f"min x{min(handler) / min(reference):.2f}")
    added = med["unfetched"] - med["echo"] - med["ref"]
    print(f"medians: the app's own work {added * 1000:+.0f} ms ({100 * added / med['ref']:+.0f} % of predict), "
          f"fetching the canvas {(med['app'] - med['unfetched']) * 1000:+.0f} ms, "
          f"transport {med['echo'] * 1000:.0f} ms")


def first_clicks(url: str, model_id: str, images: list[Path]) -> None:
    from gradio_client import Client, handle_file

    first = {"without preparing": [], "prepared on upload": []}
    prepare_s = []
    for i, path in enumerate(images):
        client = Client(url, verbose=False)
        client.predict(handle_file(str(path)), model_id, api_name="/segment_load_image")
        way = "prepared on upload" if i % 2 else "without preparing"
        if i % 2:
            prepare_s.append(timed(lambda: client.predict(model_id, api_name="/segment_prepare")))
        first[way].append(timed(lambda: client.predict(FIRST_CLICK, model_id, "", api_name="/segment_prompt")))
    for way, seconds in first.items():
        print(summary(f"first click after upload, {way}", seconds))
    print(summary("preparing on upload (while the user looks at the image)", prepare_s))


def throughput(url: str, model_id: str, image: Path, per_client: int) -> None:
    """Clicks per second and their p50 with 1, 2 and 4 clients clicking at once, each on its own session of
    the same image, uploaded and prepared before the clock starts."""
    from gradio_client import Client, handle_file

    def user(seed: int, ready: threading.Barrier) -> tuple[list[float], float]:
        client = Client(url, verbose=False)

        def call(*args: object, api_name: str) -> object:  # a lost reply fails the run instead of hanging it
            return client.submit(*args, api_name=api_name).result(timeout=CALL_TIMEOUT_S)

        try:
            call(handle_file(str(image)), model_id, api_name="/segment_load_image")
            call(model_id, api_name="/segment_prepare")
        except BaseException:
            ready.abort()  # the other clients stop waiting for this one
            raise
        prompts = boxes(np.random.default_rng(seed), per_client, 400, 300)
        ready.wait(timeout=CALL_TIMEOUT_S)
        began = time.perf_counter()
        times = [timed(lambda: call(f'{{"boxes": [{b}]}}', model_id, "", api_name="/segment_prompt"))
                 for b in prompts]
        return times, time.perf_counter() - began

    for n in (1, 2, 4):
        ready = threading.Barrier(n)
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(user, seed, ready) for seed in range(10 * n, 11 * n)]  # boxes new to the server
        failed = [e for f in futures if (e := f.exception()) is not None]
        if failed:  # the client that failed, not the others it left waiting
            raise next((e for e in failed if not isinstance(e, threading.BrokenBarrierError)), failed[0])
        runs = [f.result() for f in futures]
        times = [t for ts, _ in runs for t in ts]
        rate = len(times) / max(seconds for _, seconds in runs)
        print(f"  {n} concurrent client(s): {rate:.2f} clicks/s, p50 {statistics.median(times) * 1000:.0f} ms")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def history(calls: int, env: dict[str, str]) -> None:
    """An echo over the HTTP API on two bare apps whose queues have served 10,000 events, one rebuilding its
    monitoring summary after every event (Gradio's default), one every ``ANALYTICS_EVERY`` (the app's setting);
    calls alternated, a pause after each so that work left after the reply is not charged to the next call."""
    settings = {"Gradio's default (after every event)": "1", f"the app's (every {ANALYTICS_EVERY} events)":
                str(ANALYTICS_EVERY)}
    servers = {name: start([sys.executable, "-c", HISTORY_APP], {**env, "GRADIO_ANALYTICS_CACHE_FREQUENCY": every})
               for name, every in settings.items()}
    try:
        callers = {name: HttpCaller(url, "history") for name, (_, url, _) in servers.items()}
        cpu_before = {name: cpu_seconds(proc.pid) for name, (proc, _, _) in servers.items()}

        def call(name: str) -> Callable[[int], object]:
            return lambda i: (callers[name].call("echo", [str(i)]), time.sleep(0.05))

        walls = alternated(calls, *(call(name) for name in settings))
        for (name, (proc, _, _)), wall in zip(servers.items(), walls):
            cpu = (cpu_seconds(proc.pid) - cpu_before[name]) / (calls + 2)  # + the 2 warm-up calls
            print(f"after {PAST_EVENTS} events, {name}: echo over the HTTP API min "
                  f"{(min(wall) - 0.05) * 1000:.1f} ms, median {(statistics.median(wall) - 0.05) * 1000:.1f} ms; "
                  f"server CPU {cpu * 1000:.1f} ms a call")
    finally:
        for proc, _, _ in servers.values():
            stop(proc)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="embedded-u2netp-grabcut")
    p.add_argument("--random-weights", action="store_true", help="the model's architecture with random weights")
    p.add_argument("--clicks", type=int, default=20)
    p.add_argument("--starts", type=int, default=3)
    p.add_argument("--first-clicks", type=int, default=6, help="uploads for the first-click comparison")
    p.add_argument("--per-client", type=int, default=12, help="clicks of each concurrent client")
    p.add_argument("--slots", default="1,2", help="app slots to measure throughput with (1: the app before slots)")
    p.add_argument("--parts", default="startup,clicks,first,browser,throughput,history",
                   help="which measurements, comma-separated")
    args = p.parse_args(argv)
    images = sorted(COCO.glob("*.jpg"))[: args.first_clicks + 1]
    if not images:
        sys.exit(f"no COCO images under {COCO}: run python -m benchmarks.download_data")
    env = {"GRADIO_ANALYTICS_ENABLED": "False"}
    location = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_weights:
            from benchmarks.random_init import save_random_weights

            location = str(save_random_weights(seglab.get_spec(args.model), Path(tmp) / args.model))
            env["SEGLAB_WEIGHTS_DIR"] = tmp
        print(f"{os.cpu_count()} CPUs; {args.model}{' (random weights)' if location else ''}")
        if "startup" in args.parts:
            startup(args.starts, env)
        proc, url, _ = start([sys.executable, "app.py"], env)
        try:
            if "clicks" in args.parts:
                clicks(url, args.model, location, images[0], args.clicks, env)
            if "first" in args.parts:
                first_clicks(url, args.model, images[1:])
            if "browser" in args.parts:
                browser_clicks(url, args.model, location, images[0], args.clicks, env)
        finally:
            stop(proc)
        if "throughput" in args.parts:
            for slots in args.slots.split(","):
                proc, url, _ = start([sys.executable, "app.py"], {**env, "SEGLAB_APP_SLOTS": slots})
                print(f"throughput with SEGLAB_APP_SLOTS={slots} ({os.cpu_count()} CPUs):")
                try:
                    throughput(url, args.model, images[0], args.per_client)
                finally:
                    stop(proc)
        if "history" in args.parts:
            history(max(args.clicks, 30), env)


if __name__ == "__main__":
    main()
