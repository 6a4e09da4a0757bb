"""Test oracle: a literal transcription of the official Mask2Former / OneFormer test-time functions.

From facebookresearch/Mask2Former mask2former/maskformer_model.py (commit 9b0651c6c1d5b3af2e6da0589b719c514ec0d69a:
``MaskFormer.forward`` inference branch, ``semantic_inference``, ``panoptic_inference``, ``instance_inference``),
SHI-Labs/OneFormer oneformer/oneformer_model.py (commit 4962ef6a96ffb76a76771bfa3e8b3587f209752b: the same, its
``instance_inference`` without the demo and ADE20K relabelling branches) and facebookresearch/detectron2
(commit 02b5c4e295e990042a714712c21dc79b731e8833: ``ResizeShortestEdge.get_output_shape``,
``ImageList.from_tensors``, ``sem_seg_postprocess``). detectron2 structures are replaced by tensors and dicts;
``thing_ids`` stands for ``metadata.thing_dataset_id_to_contiguous_id.values()``. Deliberately unoptimised.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def get_output_shape(oldh, oldw, short_edge_length, max_size):
    h, w = oldh, oldw
    size = short_edge_length * 1.0
    scale = size / min(h, w)
    if h < w:
        newh, neww = size, scale * w
    else:
        newh, neww = scale * h, size
    if max(newh, neww) > max_size:
        scale = max_size * 1.0 / max(newh, neww)
        newh = newh * scale
        neww = neww * scale
    neww = int(neww + 0.5)
    newh = int(newh + 0.5)
    return (newh, neww)


def padded_size(image_size, size_divisibility):
    """ImageList.from_tensors for one image: the padded (H, W)."""
    stride = size_divisibility
    return tuple((s + (stride - 1)) // stride * stride for s in image_size)


def sem_seg_postprocess(result, img_size, output_height, output_width):
    result = result[:, : img_size[0], : img_size[1]].expand(1, -1, -1, -1)
    result = F.interpolate(result, size=(output_height, output_width), mode="bilinear", align_corners=False)[0]
    return result


def semantic_inference(mask_cls, mask_pred):
    mask_cls = F.softmax(mask_cls, dim=-1)[..., :-1]
    mask_pred = mask_pred.sigmoid()
    semseg = torch.einsum("qc,qhw->chw", mask_cls, mask_pred)
    return semseg


def panoptic_inference(mask_cls, mask_pred, num_classes, thing_ids, object_mask_threshold, overlap_threshold):
    scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
    mask_pred = mask_pred.sigmoid()

    keep = labels.ne(num_classes) & (scores > object_mask_threshold)
    cur_scores = scores[keep]
    cur_classes = labels[keep]
    cur_masks = mask_pred[keep]

    cur_prob_masks = cur_scores.view(-1, 1, 1) * cur_masks

    h, w = cur_masks.shape[-2:]
    panoptic_seg = torch.zeros((h, w), dtype=torch.int32, device=cur_masks.device)
    segments_info = []

    current_segment_id = 0

    if cur_masks.shape[0] == 0:
        return panoptic_seg, segments_info
    else:
        cur_mask_ids = cur_prob_masks.argmax(0)
        stuff_memory_list = {}
        for k in range(cur_classes.shape[0]):
            pred_class = cur_classes[k].item()
            isthing = pred_class in thing_ids
            mask_area = (cur_mask_ids == k).sum().item()
            original_area = (cur_masks[k] >= 0.5).sum().item()
            mask = (cur_mask_ids == k) & (cur_masks[k] >= 0.5)

            if mask_area > 0 and original_area > 0 and mask.sum().item() > 0:
                if mask_area / original_area < overlap_threshold:
                    continue

                if not isthing:
                    if int(pred_class) in stuff_memory_list.keys():  # noqa: SIM118 (verbatim)
                        panoptic_seg[mask] = stuff_memory_list[int(pred_class)]
                        continue
                    else:
                        stuff_memory_list[int(pred_class)] = current_segment_id + 1

                current_segment_id += 1
                panoptic_seg[mask] = current_segment_id

                segments_info.append({"id": current_segment_id, "isthing": bool(isthing),
                                      "category_id": int(pred_class)})

        return panoptic_seg, segments_info


def instance_inference(mask_cls, mask_pred, num_classes, num_queries, test_topk_per_image, panoptic_on, thing_ids):
    scores = F.softmax(mask_cls, dim=-1)[:, :-1]
    labels = torch.arange(num_classes).unsqueeze(0).repeat(num_queries, 1).flatten(0, 1)
    scores_per_image, topk_indices = scores.flatten(0, 1).topk(test_topk_per_image, sorted=False)
    labels_per_image = labels[topk_indices]

    topk_indices = topk_indices // num_classes
    mask_pred = mask_pred[topk_indices]

    if panoptic_on:
        keep = torch.zeros_like(scores_per_image).bool()
        for i, lab in enumerate(labels_per_image):
            keep[i] = lab in thing_ids

        scores_per_image = scores_per_image[keep]
        labels_per_image = labels_per_image[keep]
        mask_pred = mask_pred[keep]

    pred_masks = (mask_pred > 0).float()
    mask_scores_per_image = (mask_pred.sigmoid().flatten(1) * pred_masks.flatten(1)).sum(1) / (
        pred_masks.flatten(1).sum(1) + 1e-6)
    return {"pred_masks": pred_masks, "scores": scores_per_image * mask_scores_per_image,
            "pred_classes": labels_per_image}


def inference(mask_cls, mask_pred, padded, image_size, height, width, *, num_classes, thing_ids=(),
              semantic_on=False, instance_on=False, panoptic_on=False, object_mask_threshold=0.8,
              overlap_threshold=0.8, test_topk_per_image=100, sem_seg_postprocess_before_inference=False):
    """``MaskFormer.forward``'s inference branch for one image: mask_cls (Q, C + 1), mask_pred (Q, h, w)."""
    sem_seg_postprocess_before_inference = sem_seg_postprocess_before_inference or panoptic_on or instance_on
    mask_pred = F.interpolate(mask_pred[None], size=padded, mode="bilinear", align_corners=False)[0]
    result = {}
    if sem_seg_postprocess_before_inference:
        mask_pred = sem_seg_postprocess(mask_pred, image_size, height, width)
    if semantic_on:
        r = semantic_inference(mask_cls, mask_pred)
        if not sem_seg_postprocess_before_inference:
            r = sem_seg_postprocess(r, image_size, height, width)
        result["sem_seg"] = r
    if panoptic_on:
        result["panoptic_seg"] = panoptic_inference(mask_cls, mask_pred, num_classes, thing_ids,
                                                    object_mask_threshold, overlap_threshold)
    if instance_on:
        result["instances"] = instance_inference(mask_cls, mask_pred, num_classes, mask_cls.shape[0],
                                                 test_topk_per_image, panoptic_on, thing_ids)
    return result
