"""`dedup.exact`: drop records whose chosen fields match an earlier record after normalization."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..base import Step, StepConfig, register
from ..common.text import key_text
from ..decisions import ORDER, Decisions


@register("dedup.exact")
class ExactDedup(Step):
    """Keep the first record (in input order) of each group whose `fields` are equal after
    normalization (whitespace squeezed, casefolded unless `casefold: false`, punctuation removed
    if `ignore_punctuation: true`). Later copies go to the ledger as `exact_duplicate` with the
    kept record's id and origin. Works across batches and sources: the whole input is keyed once
    by a 128-bit hash of the normalized fields (16 bytes per record, plus the kept copies' ids)."""

    scope = "dataset"

    class Config(StepConfig):
        fields: list[str] = Field(["instruction", "context", "response"],
                                  description="fields compared (any column, `history` or `text`)")
        casefold: bool = Field(True, description="compare case-insensitively")
        ignore_punctuation: bool = Field(False, description="ignore punctuation and symbols")

    def decide(self, data: pl.LazyFrame) -> Decisions:
        cfg = self.config
        key = key_text(cfg.fields, cfg.casefold, cfg.ignore_punctuation)
        # Two independently seeded 64-bit hashes: a 128-bit key, computed in parallel by polars.
        # The hash values never leave this process, so they need not be stable across versions.
        # Streaming: the texts pass through in chunks; only 24 bytes per record and the ids stay.
        keys = data.select(pl.col(ORDER).cast(pl.UInt64), "id", key.hash(seed=0x5EED).alias("_a"),
                           key.hash(seed=0xC0FFEE).alias("_b")).collect(engine="streaming")
        first = keys.select(ORDER, "id", pl.col(ORDER).min().over("_a", "_b").alias("_first"))
        copy = pl.col(ORDER) != pl.col("_first")
        kept_of_copies = first.filter(copy)["_first"].unique().implode()
        twins = (data.filter(pl.col(ORDER).cast(pl.UInt64).is_in(kept_of_copies))
                 .select(pl.col(ORDER).cast(pl.UInt64).alias("_first"), pl.col("id").alias("_kid"),
                         pl.col("origin").alias("_korigin")).collect())
        verdicts = first.join(twins, on="_first", how="left", maintain_order="left").select(
            ORDER, "id",
            pl.when(copy).then(pl.lit("exact_duplicate")).alias("reason"),
            pl.when(copy).then(pl.format("duplicate of {} ({})", "_kid", "_korigin")).alias("detail"))
        return Decisions(verdicts)
