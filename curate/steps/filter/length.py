"""`filter.length`: keep records whose text length (chars, words or tokenizer tokens) is in range."""

from __future__ import annotations

from typing import Literal, Optional

import polars as pl
from pydantic import Field, model_validator

from ..base import Result, Step, StepConfig, register, split
from ..common.text import FIELDS_OF_TEXT, field_text, word_counts


@register("filter.length")
class LengthFilter(Step):
    """Reject records whose `field` is shorter than `min` or longer than `max`, measured in
    characters, whitespace-separated words, or tokens of a tokenizer (a Hub id, a local folder,
    or `bundled:smollm2-135m-instruct`, the offline default). `field: text` measures instruction,
    context, response and history together. Reasons: `too_short`, `too_long`."""

    class Config(StepConfig):
        field: str = Field("response", description="column to measure, or `text` for all text")
        unit: Literal["chars", "words", "tokens"] = Field("words", description="what to count")
        min: Optional[int] = Field(None, ge=0, description="smallest allowed length (inclusive)")
        max: Optional[int] = Field(None, ge=0, description="largest allowed length (inclusive)")
        tokenizer: str = Field("bundled:smollm2-135m-instruct", description="tokenizer for unit: tokens")

        @model_validator(mode="after")
        def _bounds(self):
            if self.min is None and self.max is None:
                raise ValueError("give `min`, `max` or both")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
            return self

    def _lengths(self, batch: pl.DataFrame) -> pl.Series:
        unit = self.config.unit
        if unit == "words":  # words never span the newline that joins fields: count per field and add
            parts = FIELDS_OF_TEXT if self.config.field == "text" else [self.config.field]
            return pl.sum_horizontal(word_counts(batch.select(field_text(p)).to_series()) for p in parts)
        text = batch.select(field_text(self.config.field).fill_null("")).to_series()
        if unit == "chars":
            return text.str.len_chars()
        from ...models.tokenizer import load_tokenizer
        tok = load_tokenizer(self.config.tokenizer)
        return pl.Series([len(e.ids) for e in tok.encode_batch(text.to_list(), add_special_tokens=False)],
                         dtype=pl.UInt32)

    def apply(self, batch: pl.DataFrame) -> Result:
        cfg = self.config
        n = pl.col("_n")
        short = (n < cfg.min) if cfg.min is not None else pl.lit(False)
        long = (n > cfg.max) if cfg.max is not None else pl.lit(False)
        frame = batch.with_columns(self._lengths(batch).alias("_n"))
        reason = pl.when(short).then(pl.lit("too_short")).otherwise(pl.lit("too_long"))
        bound = pl.when(short).then(pl.lit(f"< min {cfg.min}")).otherwise(pl.lit(f"> max {cfg.max}"))
        detail = pl.format(f"{cfg.field}: {{}} {cfg.unit} {{}}", n, bound)
        res = split(frame, ~(short | long), reason, detail)
        return Result(kept=res.kept.drop("_n"), rejected=res.rejected)
