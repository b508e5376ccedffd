"""`select.sample`: a seeded random subset, optionally stratified by a column."""

from __future__ import annotations

from typing import Optional

import polars as pl
from pydantic import Field

from ..base import HowMany, Step, register
from ..common.hash_rank import group_counts, keep_mask, thresholds
from ..decisions import ORDER, Decisions, verdicts


@register("select.sample")
class Sample(Step):
    """Keep `n` records, or a `fraction` of them, chosen uniformly at random with the recipe seed.
    With `by: source` (or any column) the count or fraction applies within each group. The choice
    depends only on the records, never on batch order. Others go to the ledger as `not_sampled`."""

    scope = "dataset"

    class Config(HowMany):
        by: Optional[str] = Field(None, description="stratify by this column (e.g. source, task)")
        seed: Optional[int] = Field(None, description="overrides the recipe seed")

    def decide(self, data: pl.LazyFrame) -> Decisions:
        cfg = self.config
        counts = group_counts(data, cfg.by)
        want = {g: cfg.count(c) for g, c in counts.items()}
        seed = self.ctx.seed if cfg.seed is None else cfg.seed
        limits = thresholds(data, cfg.by, want, seed)
        frame = data.select([ORDER, "id", "origin"] + ([cfg.by] if cfg.by else [])).collect()
        keep = keep_mask(frame, cfg.by, limits, seed).to_numpy()
        detail = f"sample n={cfg.n}" if cfg.n is not None else f"sample fraction={cfg.fraction}"
        detail += f" by {cfg.by}" if cfg.by else ""
        return Decisions(verdicts(frame, ~keep, "not_sampled", [detail] * frame.height))
