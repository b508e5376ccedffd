"""TextEmb (Poth et al.): a task as the mean of an encoder's token states over all of its
examples' tokens. Unlike SEmb (the mean of per-example sentence vectors, each normalised), every
token weighs the same, so long examples count for more; the paper found the two close, SEmb a
little better. Here the encoder is a sentence-transformers model's transformer (default the
bundled MiniLM), read before pooling."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=2)
def _encoder(location: str, device: str):
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(location, device=device)
    return model.eval()


def mean_token_state(model: str, texts: list[str], device: str = "auto", batch_size: int = 64) -> np.ndarray:
    """The mean over every (non-padding) token of `texts` of the encoder's last hidden state."""
    import torch
    from .embed import resolve_model
    from .lm import auto_device
    device = auto_device(device)
    encoder = _encoder(resolve_model(model)[0], device)
    total, count = None, 0
    for start in range(0, len(texts), batch_size):
        features = encoder.tokenize(texts[start:start + batch_size])
        features = {k: v.to(device) for k, v in features.items() if hasattr(v, "to")}
        with torch.inference_mode():
            states = encoder[0](features)["token_embeddings"].float()
        mask = features["attention_mask"].unsqueeze(-1).float()
        part = (states * mask).sum((0, 1))
        total = part if total is None else total + part
        count += int(mask.sum())
    return (total / max(count, 1)).cpu().numpy().astype(np.float64)
