"""Padding-free packing: several examples per row, each attending only to itself.

Examples are placed into rows of at most `max_len` tokens (first-fit over examples in a seeded
order, so rows are nearly full and no token is padding except a row's short tail). Each row
carries `position_ids` that restart at 0 for every example and no attention mask: transformers
(5.x, sdpa and eager attention) then builds a block-diagonal causal mask from the position ids
(only when no KV cache is in use: the forward pass must set `use_cache=False`),
so no token attends across an example boundary (tests/test_train.py checks that the logits of a
packed example equal its logits alone). The tail of a row is filled with pad tokens that form
their own block and carry no loss.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from .examples import Example


@dataclass
class PackedRow:
    ids: list[int]
    labels: list[int]
    positions: list[int]
    examples: int


def pack(examples: list[Example], max_len: int, seed: int) -> list[PackedRow]:
    """First-fit packing of `examples` (shuffled with `seed`) into rows of at most `max_len` tokens."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    rows: list[PackedRow] = []
    open_rows: list[PackedRow] = []          # rows with room left, most recent last
    for i in order:
        ex = examples[i]
        target = next((r for r in open_rows if len(r.ids) + len(ex.ids) <= max_len), None)
        if target is None:
            target = PackedRow([], [], [], 0)
            rows.append(target)
            open_rows.append(target)
        target.ids += ex.ids
        target.labels += ex.labels
        target.positions += list(range(len(ex.ids)))
        target.examples += 1
        if max_len - len(target.ids) < 16:      # practically full: stop searching it
            open_rows.remove(target)
        if len(open_rows) > 64:                  # bound the search; old rows are nearly full anyway
            open_rows.pop(0)
    return rows


def collate(rows: list[PackedRow], pad_id: int) -> dict[str, torch.Tensor]:
    """A batch of packed rows, right-padded to the longest; the pad tail is its own block."""
    width = max(len(r.ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        n = len(r.ids)
        ids[b, :n] = torch.tensor(r.ids)
        labels[b, :n] = torch.tensor(r.labels)
        positions[b, :n] = torch.tensor(r.positions)
        positions[b, n:] = torch.arange(width - n)
    return {"input_ids": ids, "labels": labels, "position_ids": positions}
