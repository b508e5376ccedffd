"""`select.sample`: a seeded random subset, optionally stratified by a column."""

from __future__ import annotations

from typing import Optional

import polars as pl
from pydantic import Field, model_validator

from .base import Result, Step, StepConfig, register, split
from .hash_rank import group_counts, keep_mask, thresholds


@register("select.sample")
class Sample(Step):
    """Keep `n` records, or a `fraction` of them, chosen uniformly at random with the recipe seed.
    With `by: source` (or any column) the count or fraction applies within each group. The choice
    depends only on the records, never on batch order. Others go to the ledger as `not_sampled`."""

    scope = "dataset"

    class Config(StepConfig):
        n: Optional[int] = Field(None, ge=0, description="records to keep (per group with `by`)")
        fraction: Optional[float] = Field(None, gt=0, le=1, description="fraction to keep")
        by: Optional[str] = Field(None, description="stratify by this column (e.g. source, task)")
        seed: Optional[int] = Field(None, description="overrides the recipe seed")

        @model_validator(mode="after")
        def _one(self):
            if (self.n is None) == (self.fraction is None):
                raise ValueError("give exactly one of `n` or `fraction`")
            return self

    def fit(self, data: pl.LazyFrame) -> None:
        cfg = self.config
        counts = group_counts(data, cfg.by)
        want = {g: (cfg.n if cfg.n is not None else round(c * cfg.fraction)) for g, c in counts.items()}
        self.seed = self.ctx.seed if cfg.seed is None else cfg.seed
        self.limits = thresholds(data, cfg.by, want, self.seed)

    def apply(self, batch: pl.DataFrame) -> Result:
        mask = keep_mask(batch, self.config.by, self.limits, self.seed)
        detail = f"sample n={self.config.n}" if self.config.n is not None else f"sample fraction={self.config.fraction}"
        return split(batch, mask, "not_sampled", detail + (f" by {self.config.by}" if self.config.by else ""))
