"""`dedup.exact`: drop records whose chosen fields match an earlier record after normalization."""

from __future__ import annotations

import hashlib

import polars as pl
from pydantic import Field

from .base import Result, Step, StepConfig, register, rejected_rows
from .text import key_text


@register("dedup.exact")
class ExactDedup(Step):
    """Keep the first record (in input order) of each group whose `fields` are equal after
    normalization (whitespace squeezed, casefolded unless `casefold: false`, punctuation removed
    if `ignore_punctuation: true`). Later copies go to the ledger as `exact_duplicate` with the
    kept record's id and origin. Works across batches and sources: memory is one 16-byte digest
    per distinct record."""

    class Config(StepConfig):
        fields: list[str] = Field(["instruction", "context", "response"],
                                  description="fields compared (any column, `history` or `text`)")
        casefold: bool = Field(True, description="compare case-insensitively")
        ignore_punctuation: bool = Field(False, description="ignore punctuation and symbols")

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.seen: dict[bytes, str] = {}

    def apply(self, batch: pl.DataFrame) -> Result:
        cfg = self.config
        keys = batch.select(key_text(cfg.fields, cfg.casefold, cfg.ignore_punctuation)).to_series().to_list()
        ids = batch["id"].to_list()
        origins = batch["origin"].to_list()
        keep = []
        twins = []
        seen = self.seen
        for key, rid, origin in zip(keys, ids, origins):
            digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            first = seen.get(digest)
            if first is None:
                seen[digest] = f"{rid} ({origin})"
                keep.append(True)
            else:
                keep.append(False)
                twins.append(f"duplicate of {first}")
        mask = pl.Series(keep, dtype=pl.Boolean)
        dropped = batch.filter(~mask)
        rejected = rejected_rows(dropped, "exact_duplicate", pl.Series(twins, dtype=pl.Utf8))
        return Result(kept=batch.filter(mask), rejected=rejected)
