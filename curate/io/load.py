"""Records for the commands that take DATA: a finished run's final dataset, or readable data files."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..errors import ConfigError


def load_records(data: str, keep: list[str] | None = None) -> pl.DataFrame:
    """A run directory's final dataset, records read from files (format auto-detected; `keep`: extra
    raw fields to keep as columns), or `hub:ID`."""
    if data.startswith("hub:"):                      # a Hugging Face Hub dataset id (needs network once)
        from ..io.sources import InputReader
        from ..recipe import InputSpec
        reader = InputReader(InputSpec(hub=data[4:], keep=keep or []), 0, None, 0, 50_000)
        return pl.concat([frame for frame, _ in reader.batches()])
    path = Path(data)
    if path.is_dir() and (path / "final.parquet").is_file():
        return pl.read_parquet(path / "final.parquet")
    if path.is_dir():
        raise ConfigError(f"{data} is a folder but not a finished curate run (no final.parquet)")
    from ..io.sources import InputReader
    from ..recipe import InputSpec
    reader = InputReader(InputSpec(path=data, keep=keep or []), 0, None, 0, 50_000)
    frames = [frame for frame, _ in reader.batches()]
    return pl.concat(frames)
