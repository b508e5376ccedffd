"""The trainer a step gets through `models.trainer_hook`: one `curate train` run, cached in the
user cache by its data's content, the model, every setting and the adapter it continues."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def warmup_adapter(data: str, model: str, max_tokens: Optional[int], epochs: float, lr: float, seed: int,
                   max_len: int, init_adapter: Optional[str] = None, label: str = "") -> Path:
    from ..evals.cached_runs import trained
    from ..evals.identity import data_identity, model_identity
    from ..progress import Progress
    from .config import TrainConfig
    cfg = TrainConfig(data=data, model=model, out="-", max_tokens=max_tokens, epochs=epochs, lr=lr, seed=seed,
                      max_len=max_len, init_adapter=init_adapter)
    folder, _ = trained(cfg, data_identity(data), model_identity(model), False, Progress(), label)
    return folder / "adapter"
