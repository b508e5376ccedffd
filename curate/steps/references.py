"""Reference sets (eval suites, benchmarks) that steps compare records against, read from files in
any format curate reads, with the same format detection and error messages as recipe inputs."""

from __future__ import annotations

import polars as pl

from ..errors import ConfigError
from .base import Context


def read_references(paths: list[str], fmt: str | None, ctx: Context, step: str) -> pl.DataFrame:
    """All records of `paths` (files or globs, relative to the recipe's folder) as one canonical frame."""
    from ..io.sources import InputReader
    from ..recipe import InputSpec
    frames = []
    for i, path in enumerate(paths):
        reader = InputReader(InputSpec(path=path, format=fmt), i, ctx.base_dir, ctx.seed, 50_000)
        frames += [frame for frame, _ in reader.batches()]
    refs = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    if refs.height == 0:
        raise ConfigError(f"{step}: the reference files {paths} hold no records")
    return refs
