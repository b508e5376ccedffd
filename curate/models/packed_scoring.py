"""Per-token log-probabilities of whole continuations: packed rows, the head at scored positions only.

Token scoring (score.token_quality) needs the log-probability of every response token under two
models. `loglik.continuation_logprobs` suits evaluation (short answers after long prompts) but for
whole responses it pads each batch to its longest sequence and projects every position of the
longest continuation in every row. Here sequences are packed into rows as the trainer packs them
(position ids restart per sequence, `curate_packed` attention: nothing attends across sequences,
no pad inside a row), the decoder runs once per batch of rows, and the vocabulary projection and
its log-softmax run only at the positions whose next token is scored, in chunks. The numbers are
the ones `continuation_logprobs` gives (tests/test_token_cleaning.py compares them).
"""

from __future__ import annotations

import numpy as np

ROW_TOKENS = 1024            # tokens per packed row (a longer sequence gets a row of its own length)
ROWS_PER_BATCH = 8
CHUNK_ELEMENTS = 64 * 2**20  # scored positions x vocabulary per projection chunk (256 MB of fp32)


def decoder_and_head(model):
    """(decoder stack, output head) of a causal LM, through a PEFT wrapper; None when unknown."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        decoder, head = base.get_decoder(), base.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    return (decoder, head) if decoder is not None and head is not None else None


def _pack(lengths: list[int], width: int) -> list[list[int]]:
    """First-fit decreasing: sequence indices per row, rows of at most `width` tokens (a longer
    sequence alone in its row)."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        target = next((r for r, left in enumerate(room) if left >= lengths[i]), None)
        if target is None:
            rows.append([])
            room.append(max(width, lengths[i]))
            target = len(rows) - 1
        rows[target].append(i)
        room[target] -= lengths[i]
    return rows


def packed_continuation_logprobs(model, pairs: list[tuple[list[int], list[int]]], dtype: str = "fp32",
                                 row_tokens: int = ROW_TOKENS, rows_per_batch: int = ROWS_PER_BATCH,
                                 progress=None) -> list[np.ndarray]:
    """For each (prompt ids, continuation ids), a non-empty prompt: the log-probability of every
    continuation token given what precedes it, in input order. `dtype` bf16 runs the matmuls
    under autocast (the log-softmax stays fp32)."""
    import torch
    from .packed_attention import use_packed_attention
    if any(not p for p, _ in pairs):
        raise ValueError("packed_continuation_logprobs: every prompt needs at least one token")
    parts = decoder_and_head(model)
    if parts is None:
        raise ValueError(f"{type(model).__name__} has no separate decoder and output head")
    decoder, head = parts
    use_packed_attention(model)
    model.eval()
    device = next(model.parameters()).device
    lengths = [len(p) + len(c) for p, c in pairs]
    rows = _pack(lengths, row_tokens)
    out: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(pairs)
    vocab = head.weight.shape[0]
    step = max(1, CHUNK_ELEMENTS // vocab)
    for b in range(0, len(rows), rows_per_batch):
        batch_rows = rows[b:b + rows_per_batch]
        width = max(sum(lengths[i] for i in r) for r in batch_rows)
        ids = torch.zeros((len(batch_rows), width), dtype=torch.long)
        positions = torch.zeros((len(batch_rows), width), dtype=torch.long)
        where_r, where_c, targets, spans = [], [], [], []
        for r, members in enumerate(batch_rows):
            start = 0
            for i in members:
                prompt, cont = pairs[i]
                n = lengths[i]
                ids[r, start:start + n] = torch.tensor(prompt + cont)
                positions[r, start:start + n] = torch.arange(n)
                first = start + len(prompt) - 1                  # predicts the first continuation token
                where_r += [r] * len(cont)
                where_c += range(first, first + len(cont))
                targets += cont
                spans.append((i, len(targets) - len(cont), len(targets)))
                start += n
            positions[r, start:] = torch.arange(width - start)   # the pad tail is its own block
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
            hidden = decoder(input_ids=ids.to(device), position_ids=positions.to(device),
                             use_cache=False).last_hidden_state
            picked = hidden[torch.tensor(where_r, device=device), torch.tensor(where_c, device=device)]
            wanted = torch.tensor(targets, device=device)
            scores = torch.empty(len(targets), dtype=torch.float32)
            for s in range(0, len(targets), step):
                logits = head(picked[s:s + step]).float()
                scores[s:s + step] = (logits.gather(-1, wanted[s:s + step, None])[:, 0]
                                      - torch.logsumexp(logits, dim=-1)).cpu()
        values = scores.numpy()
        for i, lo, hi in spans:
            out[i] = values[lo:hi].copy()
        if progress:
            progress(len(spans))
    return out
