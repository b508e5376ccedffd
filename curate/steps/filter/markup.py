"""`filter.markup`: drop texts with unclosed code fences, math delimiters or HTML blocks."""

from __future__ import annotations

import re

import polars as pl
from pydantic import Field

from ..base import register
from .field_check import FieldCheck, FieldCheckConfig

@register("filter.markup")
class MarkupFilter(FieldCheck):
    """Reject texts with unbalanced markup: an odd number of ``` code fences, an odd number of `$$`
    math delimiters, or an HTML block tag (`tags`: pre, code, div, table, ul, ol, script, ...) opened
    more often than closed. Reason: `unbalanced_markup`."""

    reason = "unbalanced_markup"

    class Config(FieldCheckConfig):
        tags: list[str] = Field(["pre", "code", "div", "table", "ul", "ol", "script", "style", "blockquote"],
                                description="HTML tags that must be closed")

    def check(self, text):
        fences = text.str.count_matches(r"(?m)^\s*```")
        math = text.str.count_matches(r"\$\$", literal=False)
        bad_tag = pl.lit(None, dtype=pl.Utf8)
        for tag in reversed(self.config.tags):
            t = re.escape(tag)
            opened = text.str.count_matches(rf"(?i)<{t}[\s>]")
            closed = text.str.count_matches(rf"(?i)</{t}\s*>")
            bad_tag = pl.when(opened > closed).then(pl.lit(f"<{tag}> not closed")).otherwise(bad_tag)
        odd_fence, odd_math = fences % 2 == 1, math % 2 == 1
        why = (pl.when(odd_fence).then(pl.format("{} ``` fences", fences))
               .when(odd_math).then(pl.format("{} $$ delimiters", math)).otherwise(bad_tag))
        return odd_fence | odd_math | bad_tag.is_not_null(), why
