"""Reading whole datasets into memory: for the commands that take DATA (a finished run's final
dataset, readable data files, or `hub:ID`) and for the reference sets steps and eval suites read."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..errors import ConfigError


def read_inputs(specs: list, base_dir: str | None = None, seed: int = 0) -> pl.DataFrame:
    """Every record of the `InputSpec`s, in order, as one canonical frame (the union of their
    columns); an empty frame when they hold none. Format detection and errors as for recipe inputs."""
    from .sources import InputReader
    frames = [frame for i, spec in enumerate(specs)
              for frame, _ in InputReader(spec, i, base_dir, seed, 50_000).batches()]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def load_records(data: str, keep: list[str] | None = None) -> pl.DataFrame:
    """A run directory's final dataset, records read from files (format auto-detected; `keep`: extra
    raw fields to keep as columns), or `hub:ID`."""
    from .spec import InputSpec
    if data.startswith("hub:"):                      # a Hugging Face Hub dataset id (needs network once)
        return read_inputs([InputSpec(hub=data[4:], keep=keep or [])])
    path = Path(data)
    if path.is_dir() and (path / "final.parquet").is_file():
        return pl.read_parquet(path / "final.parquet")
    if path.is_dir():
        raise ConfigError(f"{data} is a folder but not a finished curate run (no final.parquet)")
    return read_inputs([InputSpec(path=data, keep=keep or [])])
