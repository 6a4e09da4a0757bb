"""The Depth tab: a coloured depth map with its colour bar, the range and focal length, and a 3D
point cloud (gr.Model3D, PLY) when the model gives metric depth."""
from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

import seglab
from seglab.export import write_ply
from seglab.render import depth_with_colorbar

from .common import (CONCURRENCY, ModelSource, downloads, gpu, image_input, read_image, request_dir, require_task,
                     timing, user_errors, warn_if_missing)

VIEWER_POINTS = 120_000  # the browser's point cloud is subsampled to about this many points


def describe(depth: seglab.DepthMap) -> str:
    lo, hi = depth.range()
    focal = f"{depth.focal_length_px:.0f} px" if depth.focal_length_px else "not estimated"
    if depth.kind == "metric":
        return f"Metric depth: {lo:.2f} m to {hi:.2f} m · focal length {focal}"
    return f"Relative (inverse) depth, no unit: values {lo:.3g} to {hi:.3g} (larger = nearer)"


def point_cloud(depth: seglab.DepthMap, image: np.ndarray) -> str:
    """A PLY for the 3D viewer: subsampled, y and z flipped so the scene faces the default camera."""
    h, w = depth.image_size
    stride = max(1, int(np.ceil(np.sqrt(h * w / VIEWER_POINTS))))
    points, colours = depth.to_points(image, stride=stride)
    points = points * np.array([1, -1, -1], np.float32)
    return str(write_ply(request_dir() / "point_cloud.ply", points, colours))


@user_errors(keep=5)
@gpu
def run(source: ModelSource, image: Any, model_id: str) -> tuple:
    """The ``/depth`` endpoint: (colour map with bar, description, 3D point cloud or None, downloads, status)."""
    array = read_image(image)
    if model_id:
        require_task(source, model_id, "depth")
    depth, load_s, predict_s = source.run(model_id, array)
    cloud = point_cloud(depth, array) if depth.kind == "metric" and depth.valid.any() else None
    return (depth_with_colorbar(depth), describe(depth), gr.Model3D(cloud, visible=cloud is not None),
            downloads(depth, array, "depth"), timing(model_id, load_s, predict_s))


def build(source: ModelSource, examples: list[str]) -> tuple[gr.Dropdown, gr.Button]:
    """The Depth tab's widgets and its ``/depth`` endpoint; returns its model list and Run button (for
    ``ui.weights.Needs`` to enable)."""
    with gr.Row():
        with gr.Column(scale=2, min_width=280):
            image = image_input(label="Image", sources=["upload", "clipboard"], height=300)
            if examples:
                gr.Examples(examples, inputs=image)
            model = gr.Dropdown(source.choices("depth"), value=source.preselect("depth"), label="Model",
                                allow_custom_value=True)
            button = gr.Button("Estimate depth", variant="primary", elem_id="depth-run")
        with gr.Column(scale=3):
            shown = gr.Image(label="Depth (near = warm) with colour bar", interactive=False, format="png",
                             elem_id="depth-result")
            info = gr.Markdown(label="Depth range and focal length")
            cloud = gr.Model3D(label="Point cloud (metric depth only)", display_mode="point_cloud", visible=False,
                               height=420)
            status = gr.Markdown(label="Status")
            files = gr.File(label="Downloads: 16-bit PNG (mm), .npy, colour PNG, PLY", file_count="multiple")

    def depth_handler(image: Any, model_id: str) -> tuple:
        return run(source, image, model_id)

    button.click(depth_handler, [image, model], [shown, info, cloud, files, status], api_name="depth",
                 concurrency_id="depth", concurrency_limit=CONCURRENCY, show_progress_on=[shown])  # one loader
    model.change(lambda m: warn_if_missing(source, m), model, None, api_name="depth_model", api_visibility="private")
    return model, button
