"""The Gradio app's pieces: one module per tab plus shared helpers; :func:`build_demo` puts them together."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import gradio as gr

import seglab

from . import benchmark, compare, dense, depth, gradio_cache, segment
from .common import ModelSource, threads_per_slot
from .weights import Needs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STYLE = Path(__file__).with_name("app.css")  # the layout rules: demo.launch(css_paths=STYLE)
TITLE = "seglab: segmentation and depth, every model in one place"
# Gradio rebuilds its monitoring summary (a pandas table of up to 10,000 past events) after every event by default:
# once an app has served that many, each call costs about 16 ms more server CPU (benchmarks.app_speed --parts
# history). Every this many events instead; GRADIO_ANALYTICS_CACHE_FREQUENCY set by the user wins.
ANALYTICS_EVERY = 100


def example_images() -> list[str]:
    return sorted(str(p) for p in EXAMPLES.glob("*.jpg"))


def build_demo(weights_dir: str | Path | None = None, results_dir: str | Path | None = None) -> gr.Blocks:
    """The whole app. ``weights_dir/<model-id>/`` folders override where weights come from
    (default: $SEGLAB_WEIGHTS_DIR); ``results_dir`` is the benchmark's results folder."""
    source = ModelSource(Path(weights_dir)) if weights_dir else ModelSource.from_env()
    seglab.set_threads(threads_per_slot())
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))  # read by demo.queue()
    gradio_cache.install()
    examples = example_images()
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(f"## {TITLE}\nPrompt, segment, estimate depth, compare models side by side, and read the "
                    "benchmark. Models marked *(download needed)* need `python -m seglab download <id>` first "
                    "(or, online, *Download weights* on their tab).")
        whole_image = {t: (dense.endpoint(t).capitalize(), dense.endpoint(t),
                           functools.partial(dense.build, source, t, examples)) for t in dense.TASKS}
        # each builder returns (model list, Run button), for Needs to enable Run where the model can run here
        tabs = {"promptable": ("Segment", "segment", lambda: segment.build(source, examples)),
                **whole_image, "depth": ("Depth", "depth", lambda: depth.build(source, examples))}
        models = {}
        with gr.Tabs() as tab_set:
            for task, (name, tab_id, build) in tabs.items():
                with gr.Tab(name, id=tab_id):
                    needs = Needs(source, task)
                    needs.build()  # the tab's first line: what it needs to run here
                    models[task], run = build()
                    needs.wire(demo, models[task], run)
            with gr.Tab("Compare", id="compare"):
                compare.build(source, examples)
            with gr.Tab("Benchmark", id="benchmark") as benchmark_tab:
                load_results, outputs, zoo_table, zoo_line = benchmark.build(results_dir)
        benchmark_tab.select(load_results, None, outputs, api_name="benchmark")
        choose = benchmark.zoo_choice({task: tab_id for task, (_, tab_id, _) in tabs.items()})
        zoo_table.select(choose, None, [tab_set, *models.values(), zoo_line], api_visibility="private", queue=False)
    return demo.queue(default_concurrency_limit=None)
