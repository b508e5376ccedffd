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

    def group_keys(self, data: pl.LazyFrame) -> pl.LazyFrame:
        """`_order`, id, origin and the record's 128-bit key as two independently seeded 64-bit
        hashes (`_a`, `_b`), computed in parallel by polars. The hash values never leave one
        version of polars, so they need not be stable across versions. A partitioned engine
        sends every record of a key to one worker by `_a` and calls `group_verdicts` there."""
        cfg = self.config
        key = key_text(cfg.fields, cfg.casefold, cfg.ignore_punctuation)
        return data.select(pl.col(ORDER).cast(pl.UInt64), "id", "origin", key.hash(seed=0x5EED).alias("_a"),
                           key.hash(seed=0xC0FFEE).alias("_b"))

    def group_verdicts(self, keys: pl.DataFrame) -> pl.DataFrame:
        """The verdicts of the copies among `keys` (whole key groups): every record after the
        first of its group, naming that first record."""
        first = keys.with_columns(pl.col(ORDER).min().over("_a", "_b").alias("_first"))
        kept = first.filter(pl.col(ORDER) == pl.col("_first")).select(
            "_first", pl.col("id").alias("_kid"), pl.col("origin").alias("_korigin"))
        return first.filter(pl.col(ORDER) != pl.col("_first")).join(kept, on="_first", how="left").select(
            ORDER, "id", pl.lit("exact_duplicate").alias("reason"),
            pl.format("duplicate of {} ({})", "_kid", "_korigin").alias("detail"))

    def decide(self, data: pl.LazyFrame) -> Decisions:
        # Streaming: the texts pass through in chunks; only 24 bytes per record and the ids stay
        # (origins are fetched for the kept copies of duplicates only).
        keys = self.group_keys(data).drop("origin").collect(engine="streaming")
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
