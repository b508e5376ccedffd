"""Attention over packed rows, one causal block per example, without a mask.

A packed row holds several examples whose position ids restart at 0 (packing.py). transformers
turns such position ids into a (rows x 1 x length x length) block-diagonal mask, and a mask keeps
PyTorch's SDPA off its causal fast path: every row then pays attention over its whole length,
1024^2 query-key pairs per row at the default `max_len`, whatever the lengths of its examples.
Here each example is a segment of the row and gets its own `is_causal` SDPA call, so a row of
seven 140-token examples costs 7 x 140^2 pairs instead of 1024^2, and a row holding one example
uses the same kernel as an unpacked batch. The result is the same attention (tests/test_train.py
checks a packed example's logits against the example alone).

Registered with transformers' attention and mask interfaces as `curate_packed`. Whenever the
call is not a packed training or scoring pass (a padding mask given, decoding with a cache,
queries and keys of different lengths) it hands over to transformers' own SDPA function.
"""

from __future__ import annotations

import torch

NAME = "curate_packed"


def _segments(positions: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Per row, the (start, end) of each example: a new one begins where the position does not
    follow the previous one (the rule transformers uses to detect packing)."""
    starts = torch.ones_like(positions, dtype=torch.bool)
    starts[:, 1:] = positions[:, 1:] != positions[:, :-1] + 1
    width = positions.shape[1]
    out = []
    for row in starts:
        begin = row.nonzero().flatten().tolist()
        out.append(list(zip(begin, begin[1:] + [width])))
    return out


def packed_attention_forward(module, query, key, value, attention_mask, dropout: float = 0.0,
                             scaling: float | None = None, is_causal: bool | None = None, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    positions = kwargs.get("position_ids")
    if (positions is None or attention_mask is not None or query.shape[2] == 1 or query.shape[2] != key.shape[2]
            or any(kwargs.get(k) is not None for k in ("position_bias", "sliding_window", "softcap"))
            or is_causal is False or not getattr(module, "is_causal", True)):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    positions = positions.expand(query.shape[0], -1)
    gqa = query.shape[1] != key.shape[1]

    def attend(q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True,
                                                                scale=scaling, enable_gqa=gqa)

    segments = _segments(positions)
    if all(len(s) == 1 for s in segments):          # one example per row: one batched call
        out = attend(query, key, value)
    else:
        rows = []
        for b, spans in enumerate(segments):
            parts = [attend(query[b:b + 1, :, s:e], key[b:b + 1, :, s:e], value[b:b + 1, :, s:e]) for s, e in spans]
            rows.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=2))
        out = torch.cat(rows, dim=0)
    return out.transpose(1, 2).contiguous(), None


def _packed_mask(*args, attention_mask=None, **kwargs):
    """No mask when there is no padding mask: the attention function reads the blocks from the
    position ids. With a padding mask, transformers' SDPA mask (and its attention) as usual."""
    if attention_mask is None:
        return None
    from transformers.masking_utils import sdpa_mask
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


def _plain_causal(config) -> bool:
    """Whether every layer is plain causal attention: no sliding window (whose mask this module
    would drop), no logit soft-cap."""
    if any(t != "full_attention" for t in getattr(config, "layer_types", None) or []):
        return False
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return False
    return not getattr(config, "attn_logit_softcapping", None)


def use_packed_attention(model) -> bool:
    """Switch `model` (a PEFT wrapper or a plain causal LM) to `curate_packed` attention when it
    runs SDPA through transformers' attention interface and all its layers are plain causal
    attention; returns whether it did (else it keeps transformers' masked attention)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface
    AttentionInterface.register(NAME, packed_attention_forward)
    AttentionMaskInterface.register(NAME, _packed_mask)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "_attn_implementation", None) != "sdpa" or not _plain_causal(base.config):
        return False
    try:
        base.set_attn_implementation(NAME)
    except (ValueError, AttributeError, NotImplementedError):
        return False
    return base.config._attn_implementation == NAME
