"""`select.top`: keep the best-scored records by count, fraction of records, or fraction of text."""

from __future__ import annotations

from typing import Optional

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from ...errors import ConfigError
from ..base import Step, StepConfig, register
from ..common.text import field_text
from ..decisions import ORDER, Decisions, verdicts


def char_budget_count(chars_in_order: np.ndarray, fraction: float) -> int:
    """How many records, taken in order, hold `fraction` of all the characters (the last one
    that crosses the budget included)."""
    if not len(chars_in_order):
        return 0
    cumulative = chars_in_order.cumsum()
    return min(int(np.searchsorted(cumulative, fraction * cumulative[-1]) + 1), len(chars_in_order))


@register("select.top")
class TopSelect(Step):
    """Keep the records with the highest `column` (lowest with `ascending: true`): the top `n`, the
    top `fraction` of records, or the top records holding `char_fraction` of all characters of
    `char_field` (so a budget in text, not in records, as predictive data selection uses it), or
    all records at or above `min`. Ties keep input order; null scores rank last. The others go to
    the ledger as `not_top` with their score and the cut-off."""

    scope = "dataset"

    class Config(StepConfig):
        column: str = Field(description="score column to rank by")
        n: Optional[int] = Field(None, ge=0, description="records to keep")
        fraction: Optional[float] = Field(None, gt=0, le=1, description="fraction of records to keep")
        char_fraction: Optional[float] = Field(None, gt=0, le=1, description="fraction of all characters to keep")
        min: Optional[float] = Field(None, description="keep every record scoring at least this")
        char_field: str = Field("text", description="what char_fraction measures")
        ascending: bool = Field(False, description="lower is better")

        @model_validator(mode="after")
        def _one(self):
            given = [k for k in ("n", "fraction", "char_fraction", "min") if getattr(self, k) is not None]
            if len(given) != 1:
                raise ValueError("give exactly one of `n`, `fraction`, `char_fraction` or `min`")
            return self

    def decide(self, data: pl.LazyFrame) -> Decisions:
        cfg = self.config
        names = data.collect_schema().names()
        if cfg.column not in names:
            raise ConfigError(f"select.top: column '{cfg.column}' does not exist; columns: {', '.join(names)}")
        try:
            frame = data.select(pl.col(ORDER), pl.col("id"), pl.col(cfg.column).cast(pl.Float64).alias("_s"),
                                field_text(cfg.char_field).fill_null("").str.len_chars().alias("_c")).collect()
        except pl.exceptions.InvalidOperationError:
            raise ConfigError(f"select.top: column '{cfg.column}' holds values that are not numbers; "
                              "rank by a score column") from None
        score = frame["_s"].to_numpy().astype(np.float64)
        total = len(score)
        rank_key = np.where(np.isnan(score), np.inf, score if cfg.ascending else -score)
        order = np.argsort(rank_key, kind="stable")                # ties keep input order
        if cfg.min is not None:
            keep_n = int(np.sum((score <= cfg.min) if cfg.ascending else (score >= cfg.min)))
        elif cfg.n is not None:
            keep_n = min(cfg.n, total)
        elif cfg.fraction is not None:
            keep_n = int(round(total * cfg.fraction))
        else:
            keep_n = char_budget_count(frame["_c"].to_numpy()[order], cfg.char_fraction)
        keep = np.zeros(total, dtype=bool)
        keep[order[:keep_n]] = True
        cutoff = score[order[keep_n - 1]] if keep_n else float("nan")
        return Decisions(self._verdicts(frame, keep, score, cutoff), stats=self._stats(keep_n, cutoff))

    def _verdicts(self, frame: pl.DataFrame, keep: np.ndarray, score: np.ndarray, cutoff: float) -> pl.DataFrame:
        details = [None if k else f"{self.config.column} {s:.4g} below cut-off {cutoff:.4g}"
                   for k, s in zip(keep, score)]
        return verdicts(frame, ~keep, "not_top", details)

    @staticmethod
    def _stats(keep_n: int, cutoff: float) -> dict:
        return {"kept_top": keep_n, **({"cutoff": float(cutoff)} if keep_n else {})}

    # The cut-off found over slices (common/cutoff_search.py), for the Ray engine.

    def ranked(self, frame: pl.DataFrame) -> pl.DataFrame:
        """A slice's records (with `_order`) as the cut-off search ranks them: `_key` (lower is
        kept first; a missing score last), `_weight` (1, or characters for `char_fraction`),
        `_meets` (at or beyond `min`) and `_score`."""
        cfg = self.config
        if cfg.column not in frame.columns:
            raise ConfigError(f"select.top: column '{cfg.column}' does not exist; columns: {', '.join(frame.columns)}")
        try:
            score = frame[cfg.column].cast(pl.Float64).fill_null(float("nan"))
        except pl.exceptions.InvalidOperationError:
            raise ConfigError(f"select.top: column '{cfg.column}' holds values that are not numbers; "
                              "rank by a score column") from None
        value = score.to_numpy()
        key = np.where(np.isnan(value), np.inf, value if cfg.ascending else -value)
        if cfg.min is not None:
            meets = (value <= cfg.min) if cfg.ascending else (value >= cfg.min)
        else:
            meets = np.zeros(len(value), dtype=bool)
        weight = (frame.select(field_text(cfg.char_field).fill_null("").str.len_chars()).to_series().cast(pl.Float64)
                  if cfg.char_fraction is not None else pl.Series([1.0] * frame.height))
        return pl.DataFrame({ORDER: frame[ORDER].cast(pl.UInt64), "_group": pl.Series([None] * frame.height,
                             dtype=pl.Utf8), "_key": key, "_weight": weight, "_meets": meets, "_score": value})

    def targets(self, totals: pl.DataFrame) -> dict:
        """The weight to keep (records, or characters; None: none), from the one group's totals."""
        cfg = self.config
        rows, weight, meets = (totals[c].sum() for c in ("rows", "weight", "meets"))
        if cfg.char_fraction is not None:
            return {None: cfg.char_fraction * weight if rows else None}
        keep_n = meets if cfg.min is not None else min(cfg.n, rows) if cfg.n is not None else \
            int(round(rows * cfg.fraction))
        return {None: keep_n or None}

    def threshold_verdicts(self, batch: pl.DataFrame, cutoffs: dict) -> tuple[pl.DataFrame, dict]:
        """A batch's verdicts (it holds `_order`) given the cut-off record (`cutoff_search.cutoffs`)."""
        ranked = self.ranked(batch)
        cut = cutoffs.get(None)
        key, order = ranked["_key"].to_numpy(), ranked[ORDER].to_numpy()
        keep = np.zeros(batch.height, dtype=bool) if cut is None else \
            (key < cut["_key"]) | ((key == cut["_key"]) & (order <= cut[ORDER]))
        return self._verdicts(batch, keep, ranked["_score"].to_numpy(), self._cutoff(cutoffs)), {}

    def threshold_stats(self, cutoffs: dict) -> dict:
        cut = cutoffs.get(None)
        return self._stats(cut["kept"] if cut else 0, self._cutoff(cutoffs))

    @staticmethod
    def _cutoff(cutoffs: dict) -> float:
        cut = cutoffs.get(None)
        return cut["_score"] if cut else float("nan")
