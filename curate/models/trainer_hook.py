"""Training an adapter from inside a step, without the steps importing the trainer.

`score.token_quality` can build its reference model in the step (the base after a warm-up on
high-quality data) and, self-evolving, train one round's model after another. Training lives
above the steps (`curate.train`), and the layers run one way, so the trainer is handed down: the
package registers it here when `curate` is imported (`curate/__init__.py`), and a step calls
`train_adapter`. Adapters are cached in the user cache by what made them, like every other
trained arm, so a rerun or another recipe with the same warm-up trains nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError

_trainer: Optional[Callable[..., Path]] = None


def register_trainer(train: Callable[..., Path]) -> None:
    global _trainer
    _trainer = train


def train_adapter(data: str, model: str, *, max_tokens: Optional[int], epochs: float, lr: float, seed: int,
                  max_len: int, init_adapter: Optional[str] = None, label: str = "") -> Path:
    """The adapter folder (with `adapter_config.json`) of `model` LoRA-trained on `data` (a file,
    glob or folder with `final.parquet`), continued from `init_adapter` when given."""
    if _trainer is None:
        raise ConfigError("no trainer is registered: import curate (its package registers one) before running a "
                          "step that trains")
    return _trainer(data=data, model=model, max_tokens=max_tokens, epochs=epochs, lr=lr, seed=seed,
                    max_len=max_len, init_adapter=init_adapter, label=label)
