"""`filter.long_lines`: drop texts with a very long line (minified code, base64)."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..base import register
from .field_check import FieldCheck, FieldCheckConfig

@register("filter.long_lines")
class LongLineFilter(FieldCheck):
    """Reject texts with a line longer than `max_chars` characters (minified code, base64, tables
    flattened into one line). Reason: `long_line`."""

    reason = "long_line"

    class Config(FieldCheckConfig):
        max_chars: int = Field(2500, ge=1, description="longest allowed line, in characters")

    def check(self, text):
        longest = text.str.split("\n").list.eval(pl.element().str.len_chars()).list.max()
        return longest > self.config.max_chars, pl.format("a line of {} chars > {}", longest,
                                                          pl.lit(self.config.max_chars))
