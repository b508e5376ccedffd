"""Padding-free packing: several examples per row, each attending only to itself.

Examples are placed into rows of at most `max_len` tokens (first-fit over examples in a seeded
order, so rows are nearly full and no token is padding except a row's short tail).

The order is keyed by record: each example's place is a hash of (seed, its record's key), not a
position in a shuffled list. Two datasets that share records therefore put the shared records in
the same order, so two arms of a comparison trained to the same token budget see the same records
except where their data differ (common random numbers). With a shuffled list, removing one record
reshuffles everything and the arms see unrelated samples: at a budget below the dataset the
comparison then measures sampling noise as much as the difference between the datasets. Each row
carries `position_ids` that restart at 0 for every example and no attention mask: transformers
(5.x, sdpa and eager attention) then builds a block-diagonal causal mask from the position ids
(only when no KV cache is in use: the forward pass must set `use_cache=False`),
so no token attends across an example boundary (tests/test_train.py checks that the logits of a
packed example equal its logits alone). The tail of a row is filled with pad tokens that form
their own block and carry no loss.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from .examples import Example


@dataclass
class PackedRow:
    ids: list[int]
    labels: list[int]
    positions: list[int]
    examples: int
    keys: list[str] = field(default_factory=list)     # the records placed in the row


ORDER = "record-keyed-v1"      # the example order's rule: part of a trained arm's cache key


def order_of(examples: list[Example], seed: int) -> list[int]:
    """Indices of `examples` in the seeded, record-keyed order (ties, e.g. no keys, by position)."""
    def place(i: int) -> bytes:
        key = examples[i].key or f"#{i}"
        return hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()
    return sorted(range(len(examples)), key=lambda i: (place(i), i))


def pack(examples: list[Example], max_len: int, seed: int) -> list[PackedRow]:
    """First-fit packing of `examples` (in the record-keyed order of `seed`) into rows of at most
    `max_len` tokens."""
    order = order_of(examples, seed)
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
        target.keys.append(ex.key)
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
