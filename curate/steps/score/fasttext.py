"""`score.fasttext`: label probabilities of any fastText classifier as score columns."""

from __future__ import annotations

from typing import Optional

import polars as pl
from pydantic import Field

from ...errors import ConfigError
from ...models import fasttext_model
from ..base import Result, Step, StepConfig, register
from ..common.text import fields_text


def classifier_text(fields: list[str]) -> pl.Expr:
    """The text a classifier sees: the fields joined by spaces, on one line (as `curate fasttext
    train` writes it, so training and scoring see the same text)."""
    return fields_text(fields) \
        .str.replace_all(r"\s+", " ").str.strip_chars()


@register("score.fasttext")
class FastTextScore(Step):
    """Score records with a fastText classifier file (`model`; e.g. one trained with `curate fasttext
    train`, or a published quality classifier): one column `<prefix>_<label>` per label with its
    probability (0 when the label is not among the model's predictions). Rejects nothing; pair it
    with `select.top` or `filter.where`."""

    files = ("model",)

    class Config(StepConfig):
        model: str = Field(description="fastText model file (.bin or .ftz)")
        fields: list[str] = Field(["instruction", "context", "response"], description="fields joined into the scored text")
        prefix: str = Field("score_fasttext", description="score column prefix")
        labels: Optional[list[str]] = Field(None, description="only these labels' columns (default: all)")

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.path = fasttext_model.resolve_path(config.model, ctx.base_dir)
        self.model = fasttext_model.load(self.path)
        known = [lab.removeprefix("__label__") for lab in self.model.get_labels()]
        missing = sorted(set(config.labels or []) - set(known))
        if missing:
            raise ConfigError(f"score.fasttext: labels {missing} are not in {config.model}; it has {known}")
        self.labels = config.labels or known

    def apply(self, batch: pl.DataFrame) -> Result:
        texts = batch.select(classifier_text(self.config.fields)).to_series().to_list()
        probs = fasttext_model.predict_many(self.path, texts)
        return Result(kept=batch.with_columns(
            pl.Series(f"{self.config.prefix}_{label}", probs[label], dtype=pl.Float32) for label in self.labels))
