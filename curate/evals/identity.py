"""What an A/B arm and an eval result are made of, as fingerprints, so `curate compare` reuses a
result only when everything that produced it is the same.

Before, a rerun into the same `--out` with another `--lr`, `--limit` or suite silently reused the
old adapters and scores. Now a trained arm is keyed by the content of its data, the model, every
training setting and the seed; an eval result by that arm, the suite (its settings and the content
of its data files), the item limit and the batch size. Results live in the user cache
(`<cache>/compare/`), so a second comparison that shares an arm (the same baseline against a new
treatment) trains it once, whatever its `--out`.
"""

from __future__ import annotations

from pathlib import Path

from ..fingerprint import digest, files_fingerprint, folder_fingerprint


def data_identity(data: str) -> list:
    """The content of what `curate train DATA` reads: a run's final dataset, an export's shards,
    data files, or a Hub id (by name: its content is the Hub's)."""
    if data.startswith("hub:"):
        return ["hub", data]
    path = Path(data)
    if path.is_dir() and (path / "final.parquet").is_file():
        return ["run", files_fingerprint([path / "final.parquet"])]
    if path.is_dir():
        return ["export", files_fingerprint(sorted(path.glob("data/*")))]
    from ..io.files import resolve_files
    return ["files", files_fingerprint(resolve_files(data, None, "DATA"))]


def model_identity(model: str) -> list:
    """A Hub id or bundled name by name; a local folder by the content of its files."""
    path = Path(model).expanduser()
    if path.is_dir():
        return ["folder", folder_fingerprint(path)]
    return ["name", model]


# Settings added after results were first cached, with the value that means "off": left out of a
# key while they have it, so a result made before the setting existed (which it could not have
# changed) keeps its key.
LATER_SETTINGS = {"add_tokens": [], "options_fields": [], "indicator": None, "init_adapter": None, "loss_at": "auto"}


def stable(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if not (k in LATER_SETTINGS and v == LATER_SETTINGS[k])}


def train_settings(cfg) -> dict:
    """The training settings an arm's key covers: all but data and out (`stable`); an adapter
    training continues from counts by its content, not by where it lies."""
    from ..models.lm import auto_device
    from ..models.machine import training_dtype
    from ..train.packing import ORDER
    settings = stable(cfg.model_dump(mode="json", exclude={"data", "out"}))
    settings["order"] = ORDER                  # adapters trained in another example order are others
    settings["dtype"] = training_dtype(cfg.dtype, auto_device(cfg.device))   # what `auto` means here
    if cfg.init_adapter:
        settings["init_adapter"] = folder_fingerprint(Path(cfg.init_adapter))
    return settings


def suite_identity(suite: str) -> list:
    """A suite's settings and the content of the files it reads."""
    from ..io.files import resolve_files
    from .suites import load_suite
    spec = load_suite(suite)
    files = [files_fingerprint(resolve_files(item["path"], None, f"suite {spec.name}"))
             for item in spec.inputs if item.get("path")]
    return [stable(spec.model_dump(mode="json")), files]


def arm_key(data: list, model: list, train_settings: dict) -> str:
    """`data` from `data_identity`, `model` from `model_identity` (computed once per comparison)."""
    return digest("arm", data, model, train_settings)[:16]


def eval_key(arm: str, suite: list, limit: int | None, batch_size: int) -> str:
    """`suite` from `suite_identity` (computed once per comparison, not once per arm and seed)."""
    return digest("eval", arm, suite, limit, batch_size)[:16]
