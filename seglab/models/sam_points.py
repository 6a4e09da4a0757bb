"""SAM's mask decoder for a batch of single-point prompts on one image (segment everything), regrouped so
that no per-prompt copy of the 64 x 64 image embedding is ever projected.

The reference decoder copies the image embedding once per prompt and runs every copy through 128-wide
projections. The same arithmetic, regrouped (exact in real numbers; only the float summation order differs):

- layer 1 sees the same image tokens for every prompt, so its image-side projections run once per image;
- every other attention is folded onto the token side, where 7 tokens x 8 heads give 56 columns instead of
  128: ``q . (W_k x) = (W_k^T q) . x``, ``softmax(s) (x W_v^T) = (softmax(s) x) W_v^T``,
  ``(A v) W_o^T = A (v W_o^T)``; a bias constant along the softmax axis is dropped and the output
  bias goes into the values (each head's weights sum to 1);
- the positional encoding's projections are computed once per image;
- the two 2x2 stride-2 transposed convolutions of the upscaling are matrix products in the channels-last
  layout, run only for prompts with a mask above the predicted-IoU threshold.

:func:`decode_points` returns the same low-resolution logits and predicted IoUs as the transformers
``SamModel`` forward (checked in ``tests/test_models_sam_points.py`` and, end to end, against the official
generator in ``tests/test_models_sam_official.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

UPSCALE_CHUNK = 8  # prompts upscaled together: bounds the (chunk, 16384, 4, 32) activations to ~67 MB in float32


@dataclass(frozen=True)
class ImageSide:
    """What the decoder computes from the image alone: tokens ``x0`` (N, C) (embedding + no-mask embedding),
    layer 1's keys / values and image-to-token queries, and the positional encoding projected by each
    later token-to-image key and image-to-token query (bias left out), each (H, N, d)."""

    x0: Tensor
    keys1: Tensor
    values1: Tensor
    queries1: Tensor
    pe_keys: list[Tensor]  # layers 2.. and the final attention
    pe_queries: list[Tensor]  # layers 2..


def _heads(x: Tensor, heads: int) -> Tensor:
    """(..., H * d) -> (..., H, d)."""
    return x.unflatten(-1, (heads, x.shape[-1] // heads))


def image_side(model: nn.Module, image_embeddings: Tensor) -> ImageSide:
    """The prompt-independent part of the decoder for one image (``image_embeddings`` (1, C, h, w))."""
    transformer = model.mask_decoder.transformer
    layers, heads = transformer.layers, transformer.config.num_attention_heads
    no_mask = model.prompt_encoder.no_mask_embed.weight  # (1, C): the dense embedding without a mask input
    x0 = image_embeddings[0].flatten(1).T + no_mask
    pe = model.get_image_wide_positional_embeddings()[0].flatten(1).T.to(x0.dtype)
    first = layers[0]
    t2i, i2t = first.cross_attn_token_to_image, first.cross_attn_image_to_token
    later_t2i = [layer.cross_attn_token_to_image for layer in layers[1:]] + [transformer.final_attn_token_to_image]
    return ImageSide(
        x0=x0,
        keys1=_heads(t2i.k_proj(x0 + pe), heads).transpose(0, 1),
        values1=_heads(t2i.v_proj(x0), heads).transpose(0, 1),
        queries1=_heads(i2t.q_proj(x0 + pe), heads).transpose(0, 1),
        pe_keys=[_heads(pe @ a.k_proj.weight.T, heads).transpose(0, 1) for a in later_t2i],
        pe_queries=[_heads(pe @ layer.cross_attn_image_to_token.q_proj.weight.T, heads).transpose(0, 1)
                    for layer in layers[1:]],
    )


def decode_points(model: nn.Module, side: ImageSide, sparse: Tensor, min_iou: float | None = None
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """The multimask outputs for P single-point prompts: ``sparse`` (P, T, C) prompt-encoder embeddings ->
    (low-resolution logits (K, 256, 256), predicted IoU (K,), their (prompt, output) indices (K, 2)) of the
    outputs with predicted IoU above ``min_iou`` (all with None), in prompt-then-output order."""
    decoder = model.mask_decoder
    transformer = decoder.transformer
    heads = transformer.config.num_attention_heads
    tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight]).expand(len(sparse), -1, -1)
    tokens = torch.cat([tokens, sparse.to(tokens.dtype)], 1)
    queries, keys = tokens, None
    for i, layer in enumerate(transformer.layers):
        queries = _token_self_attention(layer, queries, tokens)
        if keys is None:  # layer 1: the image tokens are the same for every prompt
            out = _token_to_shared_image(layer.cross_attn_token_to_image, queries + tokens, side, heads)
        else:
            out = _token_to_image(layer.cross_attn_token_to_image, queries + tokens, keys, side.pe_keys[i - 1], heads)
        queries = layer.layer_norm2(queries + out)
        queries = layer.layer_norm3(queries + layer.mlp(queries))
        keys = _image_to_token(layer, queries + tokens, queries, side.x0 if keys is None else keys, heads,
                               side.queries1 if i == 0 else None, None if i == 0 else side.pe_queries[i - 1])
    out = _token_to_image(transformer.final_attn_token_to_image, queries + tokens, keys, side.pe_keys[-1], heads)
    queries = transformer.layer_norm_final_attn(queries + out)

    iou = decoder.iou_prediction_head(queries[:, 0])[:, 1:]  # the multimask outputs (tokens 1..)
    mlps = decoder.output_hypernetworks_mlps
    hyper = torch.stack([mlps[j](queries[:, 1 + j]) for j in range(1, len(mlps))], 1)  # (P, 3, C / 8)
    keep = iou > min_iou if min_iou is not None else torch.ones_like(iou, dtype=torch.bool)
    index = keep.nonzero()
    prompts = index[:, 0].unique()
    chunks = torch.split(prompts, UPSCALE_CHUNK) if len(prompts) else ()
    low = [_upscale(decoder, _rows(keys, p), hyper[p], keep[p]) for p in chunks]
    n = 4 * _grid_side(keys)
    return (torch.cat(low) if low else keys.new_zeros((0, n, n))), iou[keep], index


def _rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for sorted unique indices; a view (no copy) when they are consecutive."""
    first, last = int(index[0]), int(index[-1])
    return x[first:last + 1] if last - first + 1 == len(index) else x[index]


def _grid_side(keys: Tensor) -> int:
    """The side of the square image-token grid of ``keys`` (P, N, C)."""
    return int(round(keys.shape[1] ** 0.5))


def _token_self_attention(layer: nn.Module, queries: Tensor, tokens: Tensor) -> Tensor:
    """A block's self-attention among the P x T tokens (the first block's has no residual or positional term)."""
    if layer.skip_first_layer_pe:
        return layer.layer_norm1(layer.self_attn(query=queries[None], key=queries[None], value=queries[None])[0][0])
    query = (queries + tokens)[None]
    return layer.layer_norm1(queries + layer.self_attn(query=query, key=query, value=queries[None])[0][0])


def _token_to_shared_image(attn: nn.Module, query: Tensor, side: ImageSide, heads: int) -> Tensor:
    """Tokens (P, T, C) attending to layer 1's image tokens, which every prompt shares: one attention call
    with all prompts' tokens as queries."""
    p, t, _ = query.shape
    q = _heads(attn.q_proj(query), heads).flatten(0, 1).transpose(0, 1)  # (H, P*T, d)
    out = F.scaled_dot_product_attention(q, side.keys1, side.values1, scale=attn.scaling)
    return attn.out_proj(out.transpose(0, 1).reshape(p, t, -1))


def _token_to_image(attn: nn.Module, query: Tensor, keys: Tensor, pe_keys: Tensor, heads: int) -> Tensor:
    """Tokens (P, T, C) attending to each prompt's image tokens ``keys`` (P, N, C) (+ the positional encoding,
    projected in ``pe_keys`` (H, N, d)), with the key / value projections folded onto the token side."""
    p, t, c = query.shape
    q = _heads(attn.q_proj(query), heads).transpose(1, 2) * attn.scaling  # (P, H, T, d)
    w_k, w_v = _heads(attn.k_proj.weight.T, heads), _heads(attn.v_proj.weight.T, heads)  # (C, H, d)
    folded = torch.einsum("phtd,chd->phtc", q, w_k).reshape(p, heads * t, c)
    scores = torch.baddbmm(_per_head(q, pe_keys), folded, keys.transpose(1, 2))  # (P, H*T, N)
    mixed = torch.bmm(scores.softmax(-1), keys).view(p, heads, t, c)  # (P, H, T, C): weighted image tokens
    out = torch.einsum("phtc,chd->pthd", mixed, w_v).flatten(2) + attn.v_proj.bias
    return attn.out_proj(out)


def _per_head(k: Tensor, shared: Tensor) -> Tensor:
    """(P, H, T, d) token vectors times (H, N, d) per-image vectors, head by head -> (P, H * T, N)."""
    p, h, t, d = k.shape
    out = torch.bmm(k.transpose(0, 1).reshape(h, p * t, d), shared.transpose(1, 2))  # (H, P*T, N)
    return out.view(h, p, t, -1).transpose(0, 1).reshape(p, h * t, -1)


def _image_to_token(layer: nn.Module, query: Tensor, value: Tensor, keys: Tensor, heads: int,
                    queries1: Tensor | None, pe_queries: Tensor | None) -> Tensor:
    """Image tokens attending to the P prompts' tokens, then the block's residual and norm: (P, N, C).

    ``keys`` is layer 1's shared (N, C) (its queries ``queries1`` (H, N, d) computed per image) or each
    prompt's (P, N, C), whose query projection is folded onto the tokens' keys. Scores are kept as
    (P, H, T, N), so that the softmax over the 7 tokens runs along a long contiguous axis."""
    attn = layer.cross_attn_image_to_token
    p, t, c = query.shape
    k = _heads(attn.k_proj(query), heads).transpose(1, 2) * attn.scaling  # (P, H, T, d)
    if queries1 is not None:
        scores = _per_head(k, queries1)
    else:
        w_q = _heads(attn.q_proj.weight.T, heads)  # (C, H, d)
        folded = torch.einsum("phtd,chd->phtc", k, w_q).reshape(p, heads * t, c)
        bias = (k @ _heads(attn.q_proj.bias, heads)[:, :, None]).reshape(p, heads * t, 1)
        scores = torch.baddbmm(_per_head(k, pe_queries) + bias, folded, keys.transpose(1, 2))
    weights = scores.view(p, heads, t, -1).softmax(2).view(p, heads * t, -1)  # (P, H*T, N)
    w_o = _heads(attn.out_proj.weight, heads)  # (C, H, d)
    v = _heads(attn.v_proj(value), heads)  # (P, T, H, d)
    values = torch.einsum("pthd,chd->phtc", v, w_o) + attn.out_proj.bias / heads  # (P, H, T, C)
    base = keys if keys.dim() == 3 else keys.expand(p, -1, -1)
    return layer.layer_norm4(torch.baddbmm(base, weights.transpose(1, 2), values.reshape(p, heads * t, c)))


def _upscale(decoder: nn.Module, keys: Tensor, hyper: Tensor, keep: Tensor) -> Tensor:
    """Image tokens (P, N, C), hypernetwork outputs (P, M, C / 8) and which outputs to return (P, M) bool ->
    those outputs' low-resolution logits (K, 4s, 4s), prompt by prompt: the decoder's two 2x2 stride-2
    transposed convolutions as matrix products in the channels-last layout."""
    p, n, c = keys.shape
    s = _grid_side(keys)
    conv1, conv2, norm = decoder.upscale_conv1, decoder.upscale_conv2, decoder.upscale_layer_norm
    c1, c2 = conv1.out_channels, conv2.out_channels
    # ConvTranspose2d weight (in, out, 2, 2): out[o, 2y + ky, 2x + kx] = sum_c x[c, y, x] w[c, o, ky, kx] + b[o]
    w1 = conv1.weight.permute(0, 2, 3, 1).reshape(c, 4 * c1)
    w2 = conv2.weight.permute(0, 2, 3, 1).reshape(c1, 4 * c2)
    h = torch.addmm(conv1.bias.repeat(4), keys.reshape(p * n, c), w1).view(p * n * 4, c1)
    h = F.gelu(F.layer_norm(h, (c1,), norm.weight, norm.bias, norm.eps))
    h = F.gelu(torch.addmm(conv2.bias.repeat(4), h, w2)).view(p, n * 16, c2)
    logits = torch.bmm(hyper, h.transpose(1, 2))[keep]  # (K, N*16), pixels ordered (y, x, ky1, kx1, ky2, kx2)
    logits = logits.view(-1, s, s, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4, 6)  # -> (K, y, ky1, ky2, x, kx1, kx2)
    return logits.reshape(-1, 4 * s, 4 * s)
