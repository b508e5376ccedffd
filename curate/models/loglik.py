"""Teacher-forced log-likelihoods of continuations after prompts, batched, without generating.

What the log-likelihood scorers need (`choice`: each option after the prompt; `ref_loss`: the
reference answer after the prompt). A forward pass scores a whole continuation at once, where
generation needs one pass per new token, and a continuous log-probability differs between two
adapters long before their greedy answers do: that is what lets a comparison see small effects.

Batches are sorted by length and left-padded, so every row's continuation ends in the last
column; position ids are counted from each row's first real token (left padding must not shift
them), and only the last `max continuation + 1` positions' logits are computed (`logits_to_keep`),
so a batch never holds a full (batch x length x vocabulary) tensor.
"""

from __future__ import annotations

import numpy as np

from .greedy import left_padded

TOKEN_BUDGET = 8192        # prompt + continuation tokens per forward pass on a CPU


def continuation_logprobs(model, pad_id: int, pairs: list[tuple[list[int], list[int]]],
                          token_budget: int = TOKEN_BUDGET, progress=None) -> list[np.ndarray]:
    """For each (prompt ids, continuation ids): the log-probability of every continuation token,
    given the prompt and the continuation tokens before it, in input order."""
    import torch
    lengths = [len(p) + len(c) for p, c in pairs]
    order = np.argsort([-n for n in lengths], kind="stable")
    out: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(pairs)
    device = next(model.parameters()).device
    model.eval()
    start = 0
    while start < len(order):
        width = lengths[order[start]]
        size = max(1, token_budget // max(width, 1))
        idx = order[start:start + size]
        start += len(idx)
        keep = max(len(pairs[i][1]) for i in idx) + 1
        ids, mask = left_padded([pairs[i][0] + pairs[i][1] for i in idx], pad_id)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                           position_ids=positions.to(device), use_cache=False, logits_to_keep=keep).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)
        for row, i in enumerate(idx):
            cont = pairs[i][1]
            n = len(cont)
            picked = logprobs[row, keep - 1 - n:keep - 1].gather(-1, torch.tensor(cont, device=device)[:, None])
            out[i] = picked[:, 0].cpu().numpy()
        if progress:
            progress(len(idx))
    return out


def _cache_keyword(model) -> str:
    """transformers 5 renamed `past_key_values` to `cache` (the old name warns, then goes)."""
    import inspect
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def options_logprobs(model, pad_id: int, prompt: list[int], options: list[list[int]]) -> list[np.ndarray]:
    """Log-probabilities of each option's tokens after one shared prompt: the prompt runs once and
    its key/value cache is repeated for the options, which then cost only their own few tokens
    (scoring each option as its own sequence ran the prompt once per option: 6x for six options)."""
    import torch
    device = next(model.parameters()).device
    model.eval()
    n, width = len(options), max(len(o) for o in options)
    with torch.inference_mode():
        # only the last position's logits: the prompt's own (length x vocabulary) logits are never read
        first = model(input_ids=torch.tensor([prompt], device=device), use_cache=True, logits_to_keep=1)
        cache = getattr(first, "cache", None) or first.past_key_values
        cache.batch_repeat_interleave(n)
        ids = torch.full((n, width), pad_id, dtype=torch.long)
        mask = torch.zeros((n, len(prompt) + width), dtype=torch.long)
        mask[:, :len(prompt)] = 1
        for row, option in enumerate(options):             # right-padded after the shared prompt
            ids[row, :len(option)] = torch.tensor(option)
            mask[row, len(prompt):len(prompt) + len(option)] = 1
        positions = torch.arange(len(prompt), len(prompt) + width)[None].expand(n, -1)
        rest = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                     use_cache=True, **{_cache_keyword(model): cache}).logits.float()
        # token 0 of every option is predicted by the prompt's last position, token j by option position j-1
        logits = torch.cat([first.logits[:, -1:].float().expand(n, -1, -1), rest[:, :-1]], dim=1)
        logprobs = torch.log_softmax(logits, dim=-1)
    return [logprobs[row, :len(o)].gather(-1, torch.tensor(o, device=device)[:, None])[:, 0].cpu().numpy()
            for row, o in enumerate(options)]
