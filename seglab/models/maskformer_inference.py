"""Mask2Former / OneFormer test-time pre- and post-processing as the official detectron2 code does it.

Transcribed from ``facebookresearch/Mask2Former`` ``mask2former/maskformer_model.py`` (``MaskFormer.forward``,
``semantic_inference``, ``panoptic_inference``, ``instance_inference``; commit 9b0651c6), ``SHI-Labs/OneFormer``
``oneformer/oneformer_model.py`` (same functions; its instance inference keeps thing classes only; commit 4962ef6a)
and ``facebookresearch/detectron2`` (``ResizeShortestEdge.get_output_shape``, ``ResizeTransform`` with PIL
bilinear for uint8, ``ImageList.from_tensors`` zero padding, ``sem_seg_postprocess``; commit 02b5c4e2).

It differs from transformers' ``post_process_*`` where those deviate from the official code: masks are
enlarged bilinearly to the padded input, cropped and enlarged again to the image (transformers: 384 x 384
first); a panoptic pixel needs its own probability >= 0.5 besides the argmax, the area ratio uses the
unweighted mask, and every kept segment gets a fresh id (transformers issue 23461); instances are the top-k
over queries x classes with the score class probability x mean mask probability, thresholded at full size.

Pure torch functions over one image's ``class_logits`` (Q, C + 1) and ``mask_logits`` (Q, h, w). Where the
official code enlarges all Q masks to the image, these functions enlarge only the queries they keep, and
``CHUNK`` queries at a time: interpolation acts on each query alone, so the result is the same while memory
stays bounded (a Swin-L's 200 queries at 800 x 1333 would be 850 MB of float32 at once).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

CHUNK = 16  # queries enlarged at once


def resized_shape(height: int, width: int, short: int, long: int) -> tuple[int, int]:
    """detectron2 ``ResizeShortestEdge.get_output_shape``: short side ``short``, long side at most ``long``."""
    size = short * 1.0
    scale = size / min(height, width)
    newh, neww = (size, scale * width) if height < width else (scale * height, size)
    if max(newh, neww) > long:
        scale = long * 1.0 / max(newh, neww)
        newh, neww = newh * scale, neww * scale
    return int(newh + 0.5), int(neww + 0.5)


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (H x W x 3 uint8) resized to ``shape`` (h, w) as detectron2's ``ResizeTransform``: PIL bilinear."""
    from PIL import Image

    if image.shape[:2] == shape:
        return image
    return np.array(Image.fromarray(image).resize((shape[1], shape[0]), Image.BILINEAR))


def pad_to_multiple(pixels: torch.Tensor, divisor: int) -> torch.Tensor:
    """(..., h, w) zero-padded at the bottom and right to multiples of ``divisor`` (``ImageList.from_tensors``)."""
    h, w = pixels.shape[-2:]
    if divisor <= 1:
        return pixels
    return F.pad(pixels, (0, -w % divisor, 0, -h % divisor), value=0.0)


def _bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]


def postprocess(mask_logits: torch.Tensor, padded: tuple[int, int], image_size: tuple[int, int],
                out_size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) maps enlarged to the ``padded`` network input, cropped to the resized image (``image_size``)
    and enlarged to ``out_size``: ``MaskFormer.forward``'s upsampling, then ``sem_seg_postprocess``."""
    x = _bilinear(mask_logits, padded)[:, : image_size[0], : image_size[1]]
    return _bilinear(x, out_size)


@dataclass(frozen=True)
class Geometry:
    """Sizes of one image through the network: ``padded`` input, ``resized`` image inside it, ``original``."""

    padded: tuple[int, int]
    resized: tuple[int, int]
    original: tuple[int, int]

    def full(self, mask_logits: torch.Tensor) -> Iterator[torch.Tensor]:
        """The mask logits at the original size, ``CHUNK`` queries at a time."""
        for start in range(0, mask_logits.shape[0], CHUNK):
            yield postprocess(mask_logits[start:start + CHUNK], self.padded, self.resized, self.original)


def semantic_inference(class_logits: torch.Tensor, mask_logits: torch.Tensor, geometry: Geometry,
                       before: bool) -> torch.Tensor:
    """(C, H, W) class scores at the original size: softmax(classes)[..., :-1] x sigmoid(masks) summed over queries.

    ``before``: masks brought to the original size first (``SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE``, or a
    config with panoptic / instance inference on); else the scores are computed at the padded size and resized.
    """
    probs = F.softmax(class_logits, dim=-1)[..., :-1]
    size = geometry.original if before else geometry.padded
    scores = torch.zeros((probs.shape[1], size[0] * size[1]), dtype=mask_logits.dtype, device=mask_logits.device)
    for start in range(0, mask_logits.shape[0], CHUNK):
        chunk = mask_logits[start:start + CHUNK]
        chunk = (postprocess(chunk, geometry.padded, geometry.resized, geometry.original) if before
                 else _bilinear(chunk, geometry.padded))
        scores.addmm_(probs[start:start + CHUNK].T, chunk.sigmoid().flatten(1))  # += einsum("qc,qhw->chw"), in place
    scores = scores.view(-1, *size)
    if before:
        return scores
    return _bilinear(scores[:, : geometry.resized[0], : geometry.resized[1]], geometry.original)


@dataclass(frozen=True)
class PanopticSegment:
    id: int
    label: int  # contiguous class id
    isthing: bool
    score: float  # the first query's class probability (a fused stuff segment keeps its first query's)


def panoptic_inference(class_logits: torch.Tensor, mask_logits: torch.Tensor, geometry: Geometry,
                       things: frozenset[int] | None, object_mask_threshold: float, overlap_threshold: float,
                       mask_threshold: float = 0.5) -> tuple[torch.Tensor, list[PanopticSegment]]:
    """``panoptic_inference``: (H, W) int32 segment ids (0: void) and the segments, at the original size.

    ``things``: contiguous thing class ids; stuff segments of one class are fused. ``None``: every class a thing.
    The queries are filtered before their masks are enlarged (the filter reads class scores only).
    """
    num_classes = class_logits.shape[-1] - 1
    scores, labels = F.softmax(class_logits, dim=-1).max(-1)
    keep = labels.ne(num_classes) & (scores > object_mask_threshold)
    cur_scores, cur_classes, cur_logits = scores[keep], labels[keep], mask_logits[keep]
    panoptic = torch.zeros(geometry.original, dtype=torch.int32, device=mask_logits.device)
    if cur_logits.shape[0] == 0:
        return panoptic, []
    best = ids = None  # running max / argmax of score-weighted probabilities; later chunks win only if larger
    inside = []  # each query's own mask (probability >= mask_threshold), as bool
    for start, chunk in zip(range(0, len(cur_logits), CHUNK), geometry.full(cur_logits)):
        probs = chunk.sigmoid()
        inside.append(probs >= mask_threshold)
        weighted = cur_scores[start:start + CHUNK].view(-1, 1, 1) * probs
        index = weighted.argmax(0)  # the first of equal maxima, as torch.argmax over all queries
        value = weighted.gather(0, index[None])[0]
        if best is None:
            best, ids = value, index
        else:
            better = value > best
            best, ids = torch.where(better, value, best), torch.where(better, index + start, ids)
    own = torch.cat(inside)
    segments: list[PanopticSegment] = []
    stuff_ids: dict[int, int] = {}
    for k in range(len(cur_classes)):
        label = int(cur_classes[k])
        isthing = things is None or label in things
        mask_area = int((ids == k).sum())
        original_area = int(own[k].sum())
        mask = (ids == k) & own[k]
        if mask_area > 0 and original_area > 0 and bool(mask.any()):
            if mask_area / original_area < overlap_threshold:
                continue
            if not isthing:
                if label in stuff_ids:
                    panoptic[mask] = stuff_ids[label]
                    continue
                stuff_ids[label] = len(segments) + 1
            panoptic[mask] = len(segments) + 1
            segments.append(PanopticSegment(len(segments) + 1, label, isthing, float(cur_scores[k])))
    return panoptic, segments


def instance_inference(class_logits: torch.Tensor, mask_logits: torch.Tensor, geometry: Geometry, top_k: int,
                       things: frozenset[int] | None = None,
                       mask_threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``instance_inference``: (K, H, W) bool masks, (K,) scores and (K,) contiguous labels at the original size.

    The top ``top_k`` of queries x classes by class probability, no score threshold; score = class probability
    x mean mask probability inside the mask; masks thresholded after enlargement (logit > logit(``mask_threshold``),
    0 for 0.5). ``things``: keep thing classes only (a config with panoptic inference on; OneFormer's always).
    Only the chosen queries' masks are enlarged, each once.
    """
    num_classes = class_logits.shape[-1] - 1
    probs = F.softmax(class_logits, dim=-1)[:, :-1]
    scores, index = probs.flatten().topk(min(top_k, probs.numel()), sorted=False)
    labels, queries = index % num_classes, index // num_classes
    if things is not None:
        keep = torch.tensor([int(c) in things for c in labels], dtype=torch.bool, device=labels.device)
        scores, labels, queries = scores[keep], labels[keep], queries[keep]
    cut = torch.logit(torch.tensor(mask_threshold, dtype=mask_logits.dtype))
    unique, inverse = torch.unique(queries, return_inverse=True)  # a query chosen for several classes: once
    masks, mask_scores = [], []
    for chunk in geometry.full(mask_logits[unique]):
        binary = chunk > cut
        masks.append(binary)
        flat = binary.flatten(1).float()
        mask_scores.append((chunk.sigmoid().flatten(1) * flat).sum(1) / (flat.sum(1) + 1e-6))
    if not masks:
        return torch.zeros((0, *geometry.original), dtype=torch.bool), scores, labels
    return torch.cat(masks)[inverse], scores * torch.cat(mask_scores)[inverse], labels
