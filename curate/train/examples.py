"""Records -> token ids and per-token loss weights, through the model's chat template.

Loss is on response tokens only: every assistant turn of the conversation (the final response
and any assistant turns in `history`), including the end-of-turn token the template puts after
it, so the model learns to stop. A record may carry `loss_mask` (a list of 0/1, one per token of
its final response as this tokenizer splits it, as token-level cleaning writes it): tokens with 0
carry no loss. Conversations are rendered by `curate.records.to_messages`, the one renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.chat_template import chat_ids
from ..records import to_messages


@dataclass
class Example:
    ids: list[int]
    labels: list[int]          # the token id where it carries loss, -100 where it does not
    truncated: bool = False
    key: str = ""              # the record's identity (origin/id): its place in the packing order


class EncodeError(ValueError):
    """A record that cannot become a training example (the reason goes to the report)."""


class MaskMismatch(EncodeError):
    """A `loss_mask` that does not fit its response under this tokenizer: made for other tokens
    (another model's tokenizer, an edited response), so every record would be skipped; an error."""


def encode(tokenizer, record: dict, max_len: int, over_length: str = "truncate") -> Example:
    """Token ids of the whole conversation and labels on assistant tokens.

    Each assistant turn's span is found by rendering the conversation up to it with the generation
    prompt (the prefix) and including it (prefix + answer); templates that rewrite earlier turns
    when later ones are added are rejected rather than mislabelled."""
    if not str(record.get("response") or "").strip():
        raise EncodeError("empty response")          # it would train on the end-of-turn token alone
    messages = to_messages(record)
    ids: list[int] = []
    labels: list[int] = []
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = chat_ids(tokenizer, messages[:i], generation_prompt=True)
        upto = chat_ids(tokenizer, messages[:i + 1], generation_prompt=False)
        if upto[:len(prefix)] != prefix or (ids and prefix[:len(ids)] != ids):
            raise EncodeError("the chat template does not render the conversation as a growing prefix")
        labels += [-100] * (len(prefix) - len(ids)) + upto[len(prefix):]
        spans.append((len(prefix), len(upto)))
        ids = upto
    mask = record.get("loss_mask")
    if mask is not None:
        start, end = spans[-1]
        answer = tokenizer(record["response"], add_special_tokens=False)["input_ids"]
        if len(mask) != len(answer):
            raise MaskMismatch(f"loss_mask has {len(mask)} entries, the response has {len(answer)} tokens")
        if ids[start:start + len(answer)] != answer:
            raise EncodeError("the response does not tokenize the same inside the chat template")
        for k, keep in enumerate(mask):
            if not keep:
                labels[start + k] = -100
    truncated = len(ids) > max_len
    if truncated:
        if over_length == "drop":
            raise EncodeError(f"{len(ids)} tokens > max_len {max_len}")
        ids, labels = ids[:max_len], labels[:max_len]
    if all(t == -100 for t in labels):
        raise EncodeError("no token carries loss (empty response, or all of it truncated or masked)")
    return Example(ids, labels, truncated)
