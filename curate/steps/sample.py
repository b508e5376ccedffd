"""`select.sample`: a seeded random subset, optionally stratified by a column."""

from __future__ import annotations

from typing import Optional

import polars as pl
from pydantic import Field

from .base import HowMany, Result, Step, register, split
from .hash_rank import group_counts, keep_mask, thresholds


@register("select.sample")
class Sample(Step):
    """Keep `n` records, or a `fraction` of them, chosen uniformly at random with the recipe seed.
    With `by: source` (or any column) the count or fraction applies within each group. The choice
    depends only on the records, never on batch order. Others go to the ledger as `not_sampled`."""

    scope = "dataset"

    class Config(HowMany):
        by: Optional[str] = Field(None, description="stratify by this column (e.g. source, task)")
        seed: Optional[int] = Field(None, description="overrides the recipe seed")

    def fit(self, data: pl.LazyFrame) -> None:
        cfg = self.config
        counts = group_counts(data, cfg.by)
        want = {g: cfg.count(c) for g, c in counts.items()}
        self.seed = self.ctx.seed if cfg.seed is None else cfg.seed
        self.limits = thresholds(data, cfg.by, want, self.seed)

    def apply(self, batch: pl.DataFrame) -> Result:
        mask = keep_mask(batch, self.config.by, self.limits, self.seed)
        detail = f"sample n={self.config.n}" if self.config.n is not None else f"sample fraction={self.config.fraction}"
        return split(batch, mask, "not_sampled", detail + (f" by {self.config.by}" if self.config.by else ""))
