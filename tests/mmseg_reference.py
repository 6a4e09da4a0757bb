"""Test oracles: mmseg's / mmcv's test-time code transcribed line by line (no mmcv install needed).

- ``slide_inference``: NVlabs/SegFormer ``mmseg/models/segmentors/encoder_decoder.py``
  (``EncoderDecoder.slide_inference``), commit 65fa8cfa9b52b6ee7e8897a98705abf8570f9e32, with
  ``self.encode_decode`` passed in as ``encode_decode`` and ``self.test_cfg`` / ``self.num_classes`` as arguments.
- ``_scale_size``, ``rescale_size``, ``imrescale``: open-mmlab/mmcv ``mmcv/image/geometric.py`` at v1.2.7
  (commit ca47ae1f87d16a9b8a9bd6cd910fef3ce5d0306b; NVlabs/SegFormer's README installs mmcv-full==1.2.7),
  ``imresize`` being cv2's bilinear resize.
- ``aligned_resize``: ``AlignedResize._resize_img`` (keep_ratio branch) and ``_align`` of NVlabs/SegFormer
  ``mmseg/datasets/pipelines/transforms.py``, same commit.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch.nn.functional as F


def slide_inference(img, encode_decode, num_classes, crop_size, stride, ori_shape, align_corners=False):
    h_stride, w_stride = stride
    h_crop, w_crop = crop_size
    batch_size, _, h_img, w_img = img.size()
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    preds = img.new_zeros((batch_size, num_classes, h_img, w_img))
    count_mat = img.new_zeros((batch_size, 1, h_img, w_img))
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y1 = h_idx * h_stride
            x1 = w_idx * w_stride
            y2 = min(y1 + h_crop, h_img)
            x2 = min(x1 + w_crop, w_img)
            y1 = max(y2 - h_crop, 0)
            x1 = max(x2 - w_crop, 0)
            crop_img = img[:, :, y1:y2, x1:x2]
            crop_seg_logit = encode_decode(crop_img)
            preds += F.pad(crop_seg_logit,
                           (int(x1), int(preds.shape[3] - x2), int(y1),
                            int(preds.shape[2] - y2)))

            count_mat[:, :, y1:y2, x1:x2] += 1
    assert (count_mat == 0).sum() == 0
    preds = preds / count_mat
    preds = F.interpolate(preds, size=ori_shape[:2], mode='bilinear', align_corners=align_corners)
    return preds


def _scale_size(size, scale):
    w, h = size
    return int(w * float(scale) + 0.5), int(h * float(scale) + 0.5)


def rescale_size(old_size, scale, return_scale=False):
    w, h = old_size
    if isinstance(scale, (float, int)):
        if scale <= 0:
            raise ValueError(f'Invalid scale {scale}, must be positive.')
        scale_factor = scale
    elif isinstance(scale, tuple):
        max_long_edge = max(scale)
        max_short_edge = min(scale)
        scale_factor = min(max_long_edge / max(h, w),
                           max_short_edge / min(h, w))
    else:
        raise TypeError(
            f'Scale must be a number or tuple of int, but got {type(scale)}')

    new_size = _scale_size((w, h), scale_factor)

    if return_scale:
        return new_size, scale_factor
    else:
        return new_size


def imresize(img, size):
    return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)


def imrescale(img, scale):
    h, w = img.shape[:2]
    new_size, _scale_factor = rescale_size((w, h), scale, return_scale=True)
    return imresize(img, new_size)


def _align(img, size_divisor):
    align_h = int(np.ceil(img.shape[0] / size_divisor)) * size_divisor
    align_w = int(np.ceil(img.shape[1] / size_divisor)) * size_divisor
    return imresize(img, (align_w, align_h))


def aligned_resize(img, scale, size_divisor):
    img = imrescale(img, scale)
    return _align(img, size_divisor)


def resize(img, scale):
    """mmseg ``Resize(keep_ratio=True)`` (the Cityscapes test pipeline): ``mmcv.imrescale`` alone."""
    return imrescale(img, scale)
