"""`filter.repetition`: drop texts that repeat their own word n-grams."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..base import register
from .field_check import FieldCheck, FieldCheckConfig

@register("filter.repetition")
class RepetitionFilter(FieldCheck):
    """Reject texts that repeat themselves: the share of word `n`-grams that repeat an earlier
    n-gram of the same text (1 - distinct / total) above `max_ratio`, for texts of at least
    `min_ngrams` n-grams (short texts repeat little by chance). Reason: `repetitive`."""

    reason = "repetitive"

    class Config(FieldCheckConfig):
        n: int = Field(3, ge=1, le=20, description="words per n-gram")
        max_ratio: float = Field(0.3, ge=0, le=1, description="largest allowed share of repeated n-grams")
        min_ngrams: int = Field(10, ge=1, description="texts with fewer n-grams are not checked")

    def check(self, text):
        n = self.config.n
        words = text.str.to_lowercase().str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
        grams = words.list.eval(pl.concat_str([pl.element().shift(-k) for k in range(n)], separator=" ")).list.drop_nulls()
        total = grams.list.len()
        ratio = 1 - grams.list.n_unique() / total
        bad = (total >= self.config.min_ngrams) & (ratio > self.config.max_ratio)
        return bad, pl.format("{}% of word {}-grams repeated > {}%", (ratio * 100).round(1), pl.lit(n),
                              pl.lit(round(self.config.max_ratio * 100, 1)))
