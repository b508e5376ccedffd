"""How much a response attends to what the user gave: the attention probe of *On the Loss of
Context-awareness in General Instruction Fine-tuning* (Wang et al.).

For each response token, the attention it pays to the user-turn tokens (every user turn up to this
assistant turn; system prompt, role markers and template tokens excluded), summed over those
tokens, the maximum over the heads of a layer, averaged over the turn's response tokens. A high
score means the response was written by reading the user's text (a passage, a table, code), a low
one that it could have been written from memory.

Which tokens are the user's text and which the response is found from the chat template itself:
the conversation is rendered to text, each message's content is located in it, and the tokens
whose character offsets fall inside that content are that message's (never hard-coded token ids,
so any model with a chat template and a fast tokenizer works).

Only the needed layers' attention weights are kept (a hook on each), and the forward pass stops
after the deepest of them: the layers above it would cost time and never be read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class _Enough(Exception):
    """Raised by the deepest hooked layer: the rest of the forward pass is not needed."""


@dataclass
class Layout:
    """A rendered conversation: its token ids, which tokens are user text, and per assistant turn
    the (start, end) token span of its content."""
    ids: list[int]
    user: np.ndarray
    turns: list[tuple[int, int]]


def layout(tokenizer, messages: list[dict]) -> Layout:
    """Render `messages` with the tokenizer's chat template and find each message's tokens."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = np.array(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    user = np.zeros(len(enc["input_ids"]), dtype=bool)
    turns: list[tuple[int, int]] = []
    cursor = 0
    for message in messages:
        content = message["content"]
        at = text.find(content, cursor) if content else -1
        if at < 0:
            if not content:
                continue
            raise ValueError(f"the chat template changes the {message['role']} message's text, so its tokens "
                             "cannot be found; give the probe a template that keeps message text as it is")
        end = at + len(content)
        cursor = end
        inside = (offsets[:, 0] >= at) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
        if message["role"] == "user":
            user |= inside
        elif message["role"] == "assistant":
            where = np.flatnonzero(inside)
            if len(where):
                turns.append((int(where[0]), int(where[-1]) + 1))
    return Layout(list(enc["input_ids"]), user, turns)


def num_layers(model) -> int:
    return len(_decoder_layers(model))


def _decoder_layers(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(base, "model", base)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise ValueError("the probe model has no `model.layers` (a decoder-only transformer is needed)")
    return layers


def user_attention(model, pad_id: int, items: list[Layout], layers: list[int]) -> list[list[float]]:
    """Per item, per assistant turn: the mean over the turn's tokens of the maximum over heads of
    the attention summed over user tokens before it, averaged over `layers`."""
    by_layer = user_attention_by_layer(model, pad_id, items, layers)
    return [[float(np.mean([by_layer[k][row][t] for k in by_layer])) for t in range(len(it.turns))]
            for row, it in enumerate(items)]


def user_attention_by_layer(model, pad_id: int, items: list[Layout], layers: list[int]) -> dict[int, list[list[float]]]:
    """`user_attention` for each layer separately (one forward pass for all of them). Items are
    right-padded into one batch (causal attention: padding after a sequence does not change it)."""
    import torch
    device = next(model.parameters()).device
    width = max(len(it.ids) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    user = torch.zeros((len(items), width), dtype=torch.float32)
    for row, it in enumerate(items):
        ids[row, :len(it.ids)] = torch.tensor(it.ids)
        mask[row, :len(it.ids)] = 1
        user[row, :len(it.ids)] = torch.from_numpy(it.user.astype(np.float32))
    user = user.to(device)
    captured: dict[int, torch.Tensor] = {}
    deepest = max(layers)
    modules = _decoder_layers(model)

    def hook(index):
        def grab(module, args, output):
            weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
            if weights is None:
                raise ValueError("the probe returned no attention weights: load it with eager attention")
            # summed over user tokens, max over heads: (batch, tokens)
            captured[index] = (weights.float() * user[:, None, None, :]).sum(-1).amax(1)
            if index == deepest:
                raise _Enough
        return grab
    handles = [modules[k].self_attn.register_forward_hook(hook(k)) for k in sorted(set(layers))]
    try:
        with torch.inference_mode():
            model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
    except _Enough:
        pass
    finally:
        for h in handles:
            h.remove()
    out = {}
    for k in sorted(set(layers)):
        per_token = captured[k].cpu().numpy()
        out[k] = [[float(per_token[row, a:b].mean()) for a, b in it.turns] for row, it in enumerate(items)]
    return out
