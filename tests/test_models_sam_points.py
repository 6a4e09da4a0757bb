"""The regrouped point-batch decoder (seglab.models.sam_points) against the transformers SAM forward it
replaces, on SAM's real decoder size with random weights, and the separable mask upscaling against the two
interpolations it stands for. End to end against the official generator: tests/test_models_sam_official.py."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import transformers

from seglab.models.sam import resize_matrix
from seglab.models.sam_points import decode_points, image_side

POINTS = 24


@pytest.fixture(scope="module")
def model() -> transformers.SamModel:
    """SAM with the real prompt encoder and mask decoder (256 wide, 8 heads, 2 blocks) and a 1-block image
    encoder (unused: the image embedding is given), its output layers scaled so that logits spread (std ~5)
    and predicted IoUs differ, as trained weights do."""
    torch.manual_seed(0)
    vision = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, global_attn_indexes=[0], mlp_dim=64)
    model = transformers.SamModel(transformers.SamConfig(vision_config=vision)).eval()
    decoder = model.mask_decoder
    with torch.no_grad():
        for mlp in decoder.output_hypernetworks_mlps:
            mlp.proj_out.weight.mul_(1000.0)
        decoder.iou_prediction_head.proj_out.weight.mul_(20.0)
    return model


@pytest.fixture(scope="module")
def case(model):
    """(image embedding, sparse point embeddings (P, 2, 256), the model's own logits (P*3, 256, 256) and IoU)."""
    torch.manual_seed(1)
    embedding = torch.randn(1, 256, 64, 64)
    points = torch.rand(1, POINTS, 1, 2) * 1024
    labels = torch.ones(1, POINTS, 1, dtype=torch.long)
    with torch.inference_mode():
        sparse, _ = model.prompt_encoder(input_points=points, input_labels=labels, input_boxes=None, input_masks=None)
        out = model(image_embeddings=embedding, input_points=points, input_labels=labels, multimask_output=True)
    return embedding, sparse[0], out.pred_masks[0].flatten(0, 1), out.iou_scores[0].flatten()


def test_logits_and_iou_equal_the_model_forward(model, case):
    embedding, sparse, ref_logits, ref_iou = case
    with torch.inference_mode():
        logits, iou, index = decode_points(model, image_side(model, embedding), sparse)
    assert 1.0 < ref_logits.std() < 20.0 and ref_iou.std() > 0.05  # a comparison that can fail
    assert (logits - ref_logits).abs().max() <= 1e-5 * ref_logits.abs().max()
    assert (iou - ref_iou).abs().max() <= 1e-5
    assert index.tolist() == [[p, m] for p in range(POINTS) for m in range(3)]


def test_min_iou_returns_exactly_the_outputs_above_it(model, case):
    embedding, sparse, ref_logits, ref_iou = case
    threshold = float(ref_iou.quantile(0.7))
    with torch.inference_mode():
        logits, iou, index = decode_points(model, image_side(model, embedding), sparse, min_iou=threshold)
    keep = ref_iou > threshold
    assert 0 < len(iou) == int(keep.sum()) < len(ref_iou)
    assert torch.equal(index[:, 0] * 3 + index[:, 1], keep.nonzero()[:, 0])
    assert (logits - ref_logits[keep]).abs().max() <= 1e-5 * ref_logits.abs().max()


def test_no_output_above_min_iou_gives_empty_results(model, case):
    embedding, sparse, _, ref_iou = case
    with torch.inference_mode():
        logits, iou, index = decode_points(model, image_side(model, embedding), sparse, min_iou=float(ref_iou.max()))
    assert logits.shape == (0, 256, 256) and len(iou) == len(index) == 0


@pytest.mark.parametrize("side, crop, out", [(1024, 683, 427), (1024, 1024, 640), (1024, 1024, 1500), (None, 0, 300)])
def test_separable_upscaling_equals_the_two_interpolations(side, crop, out):
    torch.manual_seed(2)
    low = F.interpolate(torch.randn(3, 1, 16, 16) * 5, (256, 256), mode="bilinear")  # smooth, like real logits
    ref = low
    if side is not None:
        ref = F.interpolate(ref, (side, side), mode="bilinear", align_corners=False)[..., :crop, :crop]
    ref = F.interpolate(ref, (out, out), mode="bilinear", align_corners=False)[:, 0]
    matrix = resize_matrix(256, side, crop, out)
    ours = matrix.T @ low[:, 0] @ matrix
    assert matrix.shape == (256, out)
    assert (ours - ref).abs().max() <= 1e-5 * ref.abs().max()
    assert resize_matrix(256, side, crop, out) is matrix  # built once per size, not on every click
