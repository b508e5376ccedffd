"""`filter.chars`: drop symbol soup, digit dumps and control characters."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..base import register
from .field_check import FieldCheck, FieldCheckConfig

@register("filter.chars")
class CharRatioFilter(FieldCheck):
    """Reject texts with too high a share of symbol characters (`max_symbols`; Unicode symbols plus
    brackets and other non-sentence punctuation), digits (`max_digits`), or non-printable control
    characters other than tab and newline (`max_nonprintable`, default 0: any). Symbol and digit
    shares are checked on texts of at least `min_chars` characters, so "42" survives. Reason:
    `char_ratio`."""

    reason = "char_ratio"

    class Config(FieldCheckConfig):
        max_symbols: float = Field(0.35, ge=0, le=1, description="largest share of symbol characters")
        max_digits: float = Field(0.5, ge=0, le=1, description="largest share of digits")
        max_nonprintable: float = Field(0.0, ge=0, le=1, description="largest share of non-printable characters")
        min_chars: int = Field(20, ge=1, description="shortest text whose symbol and digit shares are checked")

    def check(self, text):
        cfg = self.config
        visible = text.str.replace_all(r"\s", "")
        n = pl.max_horizontal(visible.str.len_chars(), pl.lit(1))
        symbols = visible.str.count_matches(r"[\p{S}\[\]{}()<>@#%^&*_=|\\/~`]") / n
        digits = visible.str.count_matches(r"\p{N}") / n
        control = text.str.count_matches(r"[\p{Cc}\x{FFFD}&&[^\t\n\r]]") / pl.max_horizontal(text.str.len_chars(), pl.lit(1))
        long_enough = visible.str.len_chars() >= cfg.min_chars
        sym_bad = long_enough & (symbols > cfg.max_symbols)
        dig_bad = long_enough & (digits > cfg.max_digits)
        ctl_bad = control > cfg.max_nonprintable
        why = (pl.when(ctl_bad).then(pl.format("non-printable share {}", control.round(3)))
               .when(sym_bad).then(pl.format("symbol share {} > {}", symbols.round(3), pl.lit(cfg.max_symbols)))
               .otherwise(pl.format("digit share {} > {}", digits.round(3), pl.lit(cfg.max_digits))))
        return sym_bad | dig_bad | ctl_bad, why
