"""The training loss, computed at the supervised positions only.

A causal LM's forward pass ends in the vocabulary projection: for SmolLM2 that is 49,152 logits
per position, about 200 MB of fp32 per 1024-token row, most of them at prompt positions whose
label is -100 and whose logits are thrown away by the loss. Here the decoder's hidden states are
gathered at the positions whose next token is labelled, and only those are projected and scored
(in chunks that are recomputed in the backward pass when they would be large, so peak memory stays
bounded for big vocabularies). The loss is the same sum as the full-logits one.

A model whose head does more than project (a logit soft-cap, a scale) would give another loss on
this path, so `LossPath` checks the two against each other on the first batch of a run and keeps
the full-logits path when they differ.
"""

from __future__ import annotations

import torch

from ..models.packed_scoring import CHUNK_ELEMENTS, decoder_and_head   # positions x vocabulary per chunk


def full_logits_loss_sum(model, batch: dict) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over labelled tokens from the model's own logits."""
    # No attention mask and no cache: transformers then builds block-diagonal masks from the
    # restarting position ids (see packing.py); with a cache it would silently attend across examples.
    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
    labels = batch["labels"][:, 1:]
    logits = logits[:, :-1]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1),
                                             ignore_index=-100, reduction="sum")
    return loss, int((labels != -100).sum())


def _chunk_loss(head, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(head(hidden).float(), labels, reduction="sum")


def supervised_loss_sum(model, batch: dict, parts) -> tuple[torch.Tensor, int]:
    """The same sum as `full_logits_loss_sum`, projecting only the labelled positions."""
    decoder, head = parts
    hidden = decoder(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False)
    hidden = hidden.last_hidden_state[:, :-1]
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    picked, targets = hidden[keep], labels[keep]
    n = int(targets.numel())
    if n == 0:
        return hidden.sum() * 0.0, 0              # keeps the graph: backward works, adds nothing
    vocab = head.weight.shape[0] if hasattr(head, "weight") else 1
    step = max(1, CHUNK_ELEMENTS // max(vocab, 1))
    if n <= step:
        return _chunk_loss(head, picked, targets), n
    from torch.utils.checkpoint import checkpoint
    total = picked.new_zeros((), dtype=torch.float32)
    for start in range(0, n, step):         # each chunk's logits are rebuilt in backward, not kept
        total = total + checkpoint(_chunk_loss, head, picked[start:start + step], targets[start:start + step],
                                   use_reentrant=False)
    return total, n


CHECK_TOKENS = 128        # labelled positions the head check scores (on the first batch's first row)


def check_slice(batch: dict) -> dict:
    """The first row of `batch`, cut after its first `CHECK_TOKENS` labelled positions: enough to
    tell a plain projection from a head that scales or caps, at a fraction of a full batch's two
    extra forward passes (which cost a third of the first step on 1024-token rows)."""
    labelled = (batch["labels"][0, 1:] != -100).nonzero().flatten()
    end = int(labelled[min(CHECK_TOKENS, len(labelled)) - 1]) + 2 if len(labelled) else batch["labels"].shape[1]
    return {k: v[:1, :end] for k, v in batch.items()}


class LossPath:
    """Which loss a run uses: the supervised-positions one when the model's head is a plain
    projection (checked against the full logits on a slice of the first batch), else the full logits."""

    def __init__(self, model, full: bool = False):
        self.model = model
        self.parts = None if full else decoder_and_head(model)
        self.checked = self.parts is None

    @property
    def name(self) -> str:
        return "supervised positions" if self.parts is not None else "full logits"

    def __call__(self, batch: dict) -> tuple[torch.Tensor, int]:
        if not self.checked:
            self.checked = True
            training = self.model.training
            self.model.eval()                  # no dropout: both passes see the same network
            probe = check_slice(batch)
            with torch.no_grad():
                full, _ = full_logits_loss_sum(self.model, probe)
                fast, _ = supervised_loss_sum(self.model, probe, self.parts)
            self.model.train(training)
            low_precision = torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda")
            if not torch.isclose(fast, full, rtol=2e-2 if low_precision else 1e-4):
                self.parts = None
        if self.parts is None:
            return full_logits_loss_sum(self.model, batch)
        return supervised_loss_sum(self.model, batch, self.parts)
