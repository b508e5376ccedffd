"""Reference sets (eval suites, benchmarks) that steps compare records against, read from files in
any format curate reads, with the same format detection and error messages as recipe inputs."""

from __future__ import annotations

import polars as pl

from ...errors import ConfigError
from ..base import Context


def read_references(paths: list[str], fmt: str | None, ctx: Context, step: str) -> pl.DataFrame:
    """All records of `paths` (files or globs, relative to the recipe's folder) as one canonical frame."""
    from ...io.load import read_inputs
    from ...io.spec import InputSpec
    refs = read_inputs([InputSpec(path=path, format=fmt) for path in paths], ctx.base_dir, ctx.seed)
    if refs.height == 0:
        raise ConfigError(f"{step}: the reference files {paths} hold no records")
    return refs
