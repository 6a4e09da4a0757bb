"""SAM-HQ's mask decoder as the official code (SysCV/sam-hq ``MaskDecoderHQ``) runs it, on the modules of
transformers' ``SamHQModel``.

transformers' ``SamHQMaskDecoder.forward`` (checked on 5.24) upscales the image embedding that went *into*
the two-way transformer (and transposed) instead of the one that came out of it, so its masks differ from
the official SAM-HQ's while its IoU scores, computed from the tokens, agree. It also returns all three
multimask outputs, where the official decoder keeps the best one. :func:`use_official_decoder` swaps in
this forward on a loaded model; its weights and every other call stay as they are.
"""
from __future__ import annotations

import types
from typing import Any


def official_forward(self: Any, image_embeddings: Any, image_positional_embeddings: Any,
                     sparse_prompt_embeddings: Any, dense_prompt_embeddings: Any, multimask_output: bool,
                     hq_token_only: bool, intermediate_embeddings: list[Any] | None = None,
                     attention_similarity: Any = None, target_embedding: Any = None) -> tuple[Any, Any]:
    """``SamHQMaskDecoder.forward`` with the official data flow: (masks (B, P, 1, 256, 256), IoU (B, P, 1)).

    With ``multimask_output`` the SAM part is the best of the three multimask outputs (by predicted IoU),
    else the single-mask output; the HQ mask is added to it unless ``hq_token_only``.
    """
    import torch

    act = self.activation
    batch, channels, height, width = image_embeddings.shape
    prompts = sparse_prompt_embeddings.shape[1] if sparse_prompt_embeddings is not None else 1
    hq_features = self.encoder_conv2(act(self.encoder_norm(self.encoder_conv1(image_embeddings))))
    if intermediate_embeddings:
        vit = intermediate_embeddings[0].permute(0, 3, 1, 2)
        hq_features = hq_features + self.compress_vit_conv2(act(self.compress_vit_norm(self.compress_vit_conv1(vit))))

    tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight, self.hq_token.weight], dim=0)
    tokens = tokens.repeat(batch, prompts, 1, 1)
    if sparse_prompt_embeddings is not None:
        tokens = torch.cat([tokens, sparse_prompt_embeddings], dim=2)
    src = (image_embeddings + dense_prompt_embeddings).repeat_interleave(prompts, 0)
    pos = image_positional_embeddings.repeat_interleave(prompts, 0)
    queries, keys = self.transformer(point_embeddings=tokens.to(self.iou_token.weight.dtype), image_embeddings=src,
                                     image_positional_embeddings=pos, attention_similarity=attention_similarity,
                                     target_embedding=target_embedding)[:2]
    n = self.num_mask_tokens  # SAM's 4 mask tokens + the HQ token
    iou_pred = self.iou_prediction_head(queries[:, :, 0])
    mask_tokens = queries[:, :, 1:1 + n]

    src = keys.transpose(2, 3).reshape(batch * prompts, channels, height, width)  # the transformer's output
    up = act(self.upscale_conv2(act(self.upscale_layer_norm(self.upscale_conv1(src)))))
    up_hq = self.mask_conv2(act(self.mask_norm(self.mask_conv1(up)))) + hq_features.repeat_interleave(
        batch * prompts // hq_features.shape[0], 0)
    mlps = [*self.output_hypernetworks_mlps, self.hq_mask_mlp]
    hyper = torch.stack([mlp(mask_tokens[:, :, i]) for i, mlp in enumerate(mlps)], dim=2)
    c, h, w = up.shape[1:]
    masks_sam = hyper[:, :, :n - 1] @ up.reshape(batch, prompts, c, h * w)
    masks_hq = hyper[:, :, n - 1:] @ up_hq.reshape(batch, prompts, c, h * w)

    if multimask_output:
        iou_pred, best = iou_pred[:, :, 1:n - 1].max(dim=2, keepdim=True)
        masks_sam = masks_sam.gather(2, (best + 1)[..., None].expand(-1, -1, -1, h * w))
    else:
        iou_pred, masks_sam = iou_pred[:, :, :1], masks_sam[:, :, :1]
    masks = masks_hq if hq_token_only else masks_sam + masks_hq
    return masks.reshape(batch, prompts, 1, h, w), iou_pred


def use_official_decoder(model: Any) -> Any:
    """Make a loaded ``SamHQModel`` decode as the official SAM-HQ does (see the module docstring)."""
    model.mask_decoder.forward = types.MethodType(official_forward, model.mask_decoder)
    return model
