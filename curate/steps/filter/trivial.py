"""`filter.trivial`: drop responses that say nothing (empty, punctuation only, placeholders)."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..base import register
from .field_check import FieldCheck, FieldCheckConfig, squeezed_lower

PLACEHOLDERS = ["n/a", "na", "none", "null", "nan", "-", "...", "todo", "tbd", "<noinput>", "no output",
                "<nooutput>", "[deleted]", "[removed]"]


@register("filter.trivial")
class TrivialResponse(FieldCheck):
    """Reject a response that is empty, whitespace, only punctuation/symbols, shorter than
    `min_chars` non-space characters, or a placeholder (`placeholders`: "N/A", "none", "...",
    "<noinput>", ..., compared case-insensitively). Reason: `trivial_response`."""

    reason = "trivial_response"

    class Config(FieldCheckConfig):
        min_chars: int = Field(1, ge=0, description="fewest non-space characters allowed")
        placeholders: list[str] = Field(PLACEHOLDERS, description="whole texts that count as no answer")

    def check(self, text):
        stripped = text.str.strip_chars()
        chars = stripped.str.replace_all(r"\s", "").str.len_chars()
        no_word = ~stripped.str.contains(r"[\p{L}\p{N}]")
        placeholder = squeezed_lower(text).is_in([p.lower() for p in self.config.placeholders])
        bad = (chars < self.config.min_chars) | no_word | placeholder
        why = (pl.when(chars == 0).then(pl.lit("empty"))
               .when(placeholder).then(pl.format("placeholder '{}'", stripped))
               .when(no_word).then(pl.lit("no letters or digits"))
               .otherwise(pl.format("{} non-space chars < min {}", chars, pl.lit(self.config.min_chars))))
        return bad, why
