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
        details = [None if k else f"{cfg.column} {s:.4g} below cut-off {cutoff:.4g}" for k, s in zip(keep, score)]
        stats = {"kept_top": keep_n, **({"cutoff": float(cutoff)} if keep_n else {})}
        return Decisions(verdicts(frame, ~keep, "not_top", details), stats=stats)
