"""Trained adapters and eval results in the user cache, keyed by everything that made them
(`identity.py`), shared by `curate compare` and `curate transfer-matrix`: a result is computed
once, reused by any later comparison or matrix that needs exactly it, and a run killed midway
continues from what it had finished."""

from __future__ import annotations

from pathlib import Path

from ..user_cache import cache_dir
from .identity import arm_key, eval_key, train_settings


def store() -> Path:
    return cache_dir() / "compare"


def trained(cfg, data_id: list, model_id: list, progress: bool, notes=None, label: str = "") -> tuple[Path, str]:
    """(folder with `adapter/`, key) of `cfg` trained: from the cache, or trained now."""
    from ..train.loop import Trainer
    key = arm_key(data_id, model_id, train_settings(cfg))
    folder = store() / "train" / key
    if (folder / "summary.json").is_file():
        if notes is not None and label:
            notes.note(f"{label}: reusing the adapter trained with the same data and settings")
    else:
        if notes is not None and label:
            notes.note(f"{label}: training")
        Trainer(cfg.model_copy(update={"out": str(folder)}), progress=progress).run()
    return folder, key


def evaluated(measure, identity: list, trained_key: str, trained_folder: Path | None, model: str, limit,
              batch_size: int, progress: bool, adapter_name: str = "adapter") -> tuple[Path, str]:
    """(result folder, key) of the adapter `trained_folder/adapter_name` (or, with no folder, the
    model itself) on `measure` (first `limit` items per group)."""
    key = eval_key(trained_key, identity, limit, batch_size)
    scored = store() / "eval" / key
    if not (measure.folder(scored) / "summary.json").is_file():
        adapter = str(trained_folder / adapter_name) if trained_folder is not None else None
        measure.run(model, adapter, scored, limit, batch_size, progress)
    return measure.folder(scored), key
