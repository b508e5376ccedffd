"""`filter.echo`: drop responses that repeat their instruction."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..base import register
from .field_check import FieldCheck, FieldCheckConfig, squeezed_lower

@register("filter.echo")
class EchoResponse(FieldCheck):
    """Reject a response that repeats its instruction: equal to it (after casefolding and squeezing
    whitespace), or, if at least `min_words` words long, contained in it. Only the instruction is
    compared: a response found in the context is normal for extractive QA. Reason: `echoes_instruction`."""

    reason = "echoes_instruction"

    class Config(FieldCheckConfig):
        min_words: int = Field(5, ge=1, description="shortest response checked for containment in the instruction")

    def check(self, text):
        response = squeezed_lower(text)
        instruction = squeezed_lower(pl.col("instruction").fill_null(""))
        equal = response == instruction
        words = response.str.count_matches(" ") + 1
        contained = (words >= self.config.min_words) & instruction.str.contains(response, literal=True)
        return equal | contained, pl.when(equal).then(pl.lit("equals the instruction")) \
            .otherwise(pl.lit("contained in the instruction"))
