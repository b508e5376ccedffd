"""`select.mix`: mix groups (sources by default) in given ratios, without upsampling."""

from __future__ import annotations

from typing import Optional

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from ..base import Step, StepConfig, register
from ..common.hash_rank import group_counts, keep_mask, ranks, thresholds
from ..decisions import ORDER, Decisions, verdicts


@register("select.mix")
class Mix(Step):
    """Keep records so that groups of `by` (default `source`) appear in `ratios` (normalized to sum
    to 1). `total` sets the mixture size; without it, the largest mixture that needs no group
    repeated is built. Groups not named in `ratios` are dropped (`not_in_mix`), surplus records go
    to the ledger as `over_ratio`. Counts per group are in the manifest stats."""

    scope = "dataset"

    class Config(StepConfig):
        ratios: dict[str, float] = Field(description="group value -> weight, e.g. {alpaca: 0.7, lima: 0.3}")
        by: str = Field("source", description="column whose values the ratios name")
        total: Optional[int] = Field(None, ge=1, description="size of the mixture (capped by availability)")
        seed: Optional[int] = Field(None, description="overrides the recipe seed")

        @field_validator("ratios")
        @classmethod
        def _positive(cls, v):
            if not v or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
                raise ValueError("ratios need at least one positive weight and no negative ones")
            return v

    def decide(self, data: pl.LazyFrame) -> Decisions:
        cfg = self.config
        counts = group_counts(data, cfg.by)
        want = self._want(counts)
        limits = thresholds(data, cfg.by, want, self._seed())
        frame = data.select(ORDER, "id", "origin", cfg.by).collect()
        out, stats = self._verdicts(frame, {g: limits.get(g) for g in counts})
        return Decisions(out, stats=stats)

    def _want(self, counts: dict) -> dict:
        """Records to keep per named group, from every group's count."""
        cfg = self.config
        weights = {g: w / sum(cfg.ratios.values()) for g, w in cfg.ratios.items() if w > 0}
        feasible = min(counts.get(g, 0) / w for g, w in weights.items())
        total = min(cfg.total, feasible) if cfg.total else feasible
        want = {g: int(round(total * w)) for g, w in weights.items()}
        return {g: min(k, counts.get(g, 0)) for g, k in want.items()}

    def _seed(self) -> int:
        return self.ctx.seed if self.config.seed is None else self.config.seed

    def _verdicts(self, frame: pl.DataFrame, limits: dict) -> tuple[pl.DataFrame, dict]:
        """Verdicts and kept counts of `frame`'s records, given each group's largest rank kept."""
        cfg = self.config
        mask = keep_mask(frame, cfg.by, limits, self._seed())
        named = frame[cfg.by].is_in(list(cfg.ratios)).fill_null(False)
        keep = (mask & named).to_numpy()
        reason = pl.Series(np.where(named.to_numpy(), "over_ratio", "not_in_mix"))
        detail = frame.select(pl.format(f"{cfg.by}={{}}", pl.col(cfg.by))).to_series().to_list()
        stats = {f"kept_{g}": int((mask & (frame[cfg.by] == g)).sum()) for g in cfg.ratios}
        return verdicts(frame, ~keep, reason, detail), stats

    # The thresholds found over slices (common/cutoff_search.py), for the Ray engine.

    def ranked(self, frame: pl.DataFrame) -> pl.DataFrame:
        """A slice's records (with `_order`) ranked by hash within each group of `by`."""
        ranked = ranks(frame.select(ORDER, "id", "origin", self.config.by), self._seed())
        return pl.DataFrame({ORDER: ranked[ORDER].cast(pl.UInt64), "_group": ranked[self.config.by],
                             "_key": ranked["_rank"], "_weight": pl.Series([1.0] * frame.height)})

    def targets(self, totals: pl.DataFrame) -> dict:
        want = self._want(dict(zip(totals["_group"].to_list(), totals["rows"].to_list())))
        return {g: want.get(g) or None for g in totals["_group"].to_list()}

    def threshold_verdicts(self, batch: pl.DataFrame, cutoffs: dict) -> tuple[pl.DataFrame, dict]:
        """A batch's verdicts and kept counts (they add up over batches)."""
        return self._verdicts(batch, {group: cut["_key"] for group, cut in cutoffs.items()})

    def threshold_stats(self, cutoffs: dict) -> dict:
        return {}
