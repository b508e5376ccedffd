"""`dedup.exact`: drop records whose chosen fields match an earlier record after normalization."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from .base import Result, Step, StepConfig, register, rejected_rows
from .text import key_text


@register("dedup.exact")
class ExactDedup(Step):
    """Keep the first record (in input order) of each group whose `fields` are equal after
    normalization (whitespace squeezed, casefolded unless `casefold: false`, punctuation removed
    if `ignore_punctuation: true`). Later copies go to the ledger as `exact_duplicate` with the
    kept record's id and origin. Works across batches and sources: memory is one 128-bit hash
    (plus references to the kept id and origin) per distinct record."""

    class Config(StepConfig):
        fields: list[str] = Field(["instruction", "context", "response"],
                                  description="fields compared (any column, `history` or `text`)")
        casefold: bool = Field(True, description="compare case-insensitively")
        ignore_punctuation: bool = Field(False, description="ignore punctuation and symbols")

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.seen: dict[tuple[int, int], tuple[str, str]] = {}

    def apply(self, batch: pl.DataFrame) -> Result:
        cfg = self.config
        key = key_text(cfg.fields, cfg.casefold, cfg.ignore_punctuation)
        # Two independently seeded 64-bit hashes: a 128-bit key, computed in parallel by polars.
        # The hash values never leave this process, so they need not be stable across versions.
        hashes = batch.select(key.hash(seed=0x5EED).alias("a"), key.hash(seed=0xC0FFEE).alias("b"))
        ids = batch["id"].to_list()
        origins = batch["origin"].to_list()
        keep: list[bool] = []
        twins: list[str] = []
        seen = self.seen
        for i, pair in enumerate(zip(hashes["a"].to_list(), hashes["b"].to_list())):
            first = seen.get(pair)
            if first is None:
                seen[pair] = (ids[i], origins[i])
                keep.append(True)
            else:
                keep.append(False)
                twins.append(f"duplicate of {first[0]} ({first[1]})")
        mask = pl.Series(keep, dtype=pl.Boolean)
        rejected = rejected_rows(batch.filter(~mask), "exact_duplicate", pl.Series(twins, dtype=pl.Utf8))
        return Result(kept=batch.filter(mask), rejected=rejected)
