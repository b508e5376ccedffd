"""Batched greedy generation, for eval suites and the local generator backend.

Why it is faster than calling `generate` once per prompt: prompts are rendered with the chat
template, sorted by length and run in batches (left-padded, so every row's next token sits in the
last column), and a batch stops as soon as every row has produced the end-of-turn token or a stop
string. Outputs come back in input order, cut at the first stop string.
"""

from __future__ import annotations

import numpy as np


def render_prompts(tokenizer, conversations: list[list[dict]]) -> list[list[int]]:
    from .chat_template import chat_ids
    return [chat_ids(tokenizer, messages, generation_prompt=True) for messages in conversations]


def fit_window(prompts: list[list[int]], reserves: list[int], window: int | None) -> tuple[list[list[int]], int]:
    """Each prompt cut from the left so that it and its `reserve` tokens (the continuation scored
    or generated) fit the model's window: the end of a prompt, where the question is, matters
    most. Returns the prompts and how many were cut, for the summary to report."""
    if not window:
        return prompts, 0
    out, cut = [], 0
    for prompt, reserve in zip(prompts, reserves):
        room = window - reserve
        if room < 1:
            raise ValueError(f"a continuation of {reserve} tokens does not fit the model's window of {window}")
        if len(prompt) > room:
            prompt, cut = prompt[-room:], cut + 1
        out.append(prompt)
    return out, cut


def model_window(model) -> int | None:
    """The longest sequence the model's position embeddings cover (None when it does not say)."""
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


def left_padded(sequences: list[list[int]], pad_id: int):
    """(ids, attention mask) tensors of `sequences`, left-padded to the longest, so every row ends
    in the last column (where generation continues and a continuation's last token sits)."""
    import torch
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq):] = torch.tensor(seq)
        mask[row, width - len(seq):] = 1
    return ids, mask


def cut_at_stop(text: str, stop: list[str]) -> str:
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut] if cut >= 0 else text).strip()


def generate(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int = 64, batch_size: int = 16,
             stop: list[str] | None = None, progress=None, prompts: list[list[int]] | None = None) -> list[str]:
    """Greedy continuations of each conversation's assistant turn, in input order (`prompts`:
    the conversations already rendered, e.g. fitted to the window)."""
    import torch
    stop = list(stop or [])
    prompts = prompts if prompts is not None else render_prompts(tokenizer, conversations)
    order = np.argsort([-len(p) for p in prompts], kind="stable")
    outputs: list[str] = [""] * len(prompts)
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, mask = left_padded([prompts[i] for i in idx], pad)
        width = ids.shape[1]
        with torch.inference_mode():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=pad,
                                 stop_strings=stop or None, tokenizer=tokenizer if stop else None)
        for row, i in enumerate(idx):
            text = tokenizer.decode(out[row, width:], skip_special_tokens=True)
            outputs[i] = cut_at_stop(text, stop)
        if progress:
            progress(len(idx))
    return outputs
