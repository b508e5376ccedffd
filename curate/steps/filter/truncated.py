"""`filter.truncated`: drop responses that stop mid-sentence."""

from __future__ import annotations

import re

import polars as pl
from pydantic import Field

from ..base import register
from .field_check import FieldCheck, FieldCheckConfig

@register("filter.truncated")
class TruncatedFilter(FieldCheck):
    """Reject responses that stop mid-sentence: ending in a comma, colon, opening bracket, dash or
    a function word ("and", "the", "of", "to", ...), or whose last line is prose of at least
    `min_words` words without closing punctuation. Code fences, lists and short answers are not
    judged by their last character. Reason: `truncated`."""

    reason = "truncated"

    class Config(FieldCheckConfig):
        min_words: int = Field(12, ge=1, description="words in the last line before a missing full stop counts")
        dangling_words: list[str] = Field(["and", "or", "but", "the", "a", "an", "of", "to", "with", "for",
                                           "because", "which", "that", "in", "on", "is", "are"],
                                          description="words a finished text does not end with")

    def check(self, text):
        t = text.str.strip_chars_end()
        words = "|".join(re.escape(w) for w in self.config.dangling_words)
        dangling_char = t.str.contains(r"[,:;(\[{\-–—]$")
        dangling_word = t.str.contains(rf"(?i)(^|\s)({words})$")
        last_line = t.str.extract(r"([^\n]*)$").str.strip_chars()
        prose = ~last_line.str.contains(r"^([-*+>|#]|\d+[.)]|```)") & ~t.str.contains(r"```$")
        long_line = last_line.str.count_matches(r"\S+") >= self.config.min_words
        unfinished = prose & long_line & t.str.contains(r"[\p{L}\p{N}]$")
        tail = t.str.slice(-30)
        why = (pl.when(dangling_char).then(pl.format("ends with '{}'", t.str.slice(-1)))
               .when(dangling_word).then(pl.format("ends with a function word: '…{}'", tail))
               .otherwise(pl.format("last sentence unfinished: '…{}'", tail)))
        return dangling_char | dangling_word | unfinished, why
