"""`select.sample`: a seeded random subset, optionally stratified by a column."""

from __future__ import annotations

from typing import Optional

import polars as pl
from pydantic import Field

from ..base import HowMany, Step, register
from ..common.hash_rank import group_counts, keep_mask, ranks, thresholds
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
        limits = thresholds(data, cfg.by, want, self._seed())
        frame = data.select([ORDER, "id", "origin"] + ([cfg.by] if cfg.by else [])).collect()
        return Decisions(self._verdicts(frame, limits))

    def _verdicts(self, frame: pl.DataFrame, limits: dict) -> pl.DataFrame:
        cfg = self.config
        keep = keep_mask(frame, cfg.by, limits, self._seed()).to_numpy()
        detail = f"sample n={cfg.n}" if cfg.n is not None else f"sample fraction={cfg.fraction}"
        detail += f" by {cfg.by}" if cfg.by else ""
        return verdicts(frame, ~keep, "not_sampled", [detail] * frame.height)

    def _seed(self) -> int:
        return self.ctx.seed if self.config.seed is None else self.config.seed

    # The thresholds found over slices (common/cutoff_search.py), for the Ray engine.

    def ranked(self, frame: pl.DataFrame) -> pl.DataFrame:
        """A slice's records (with `_order`) as the cut-off search ranks them: by hash rank
        within each group, one unit of weight each."""
        by = self.config.by
        ranked = ranks(frame.select([ORDER, "id", "origin"] + ([by] if by else [])), self._seed())
        group = ranked[by].alias("_group") if by else pl.Series("_group", [None] * frame.height, dtype=pl.Utf8)
        return pl.DataFrame({ORDER: ranked[ORDER].cast(pl.UInt64), "_group": group, "_key": ranked["_rank"],
                             "_weight": pl.Series([1.0] * frame.height)})

    def targets(self, totals: pl.DataFrame) -> dict:
        return {group: self.config.count(rows) or None for group, rows in zip(totals["_group"], totals["rows"])}

    def threshold_verdicts(self, batch: pl.DataFrame, cutoffs: dict) -> tuple[pl.DataFrame, dict]:
        """A batch's verdicts: each group's threshold is the rank of its last record kept."""
        return self._verdicts(batch, {group: cut["_key"] for group, cut in cutoffs.items()}), {}

    def threshold_stats(self, cutoffs: dict) -> dict:
        return {}
