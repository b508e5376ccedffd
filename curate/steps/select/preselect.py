"""`select.preselect`: predictive data selection (Shum et al., *Predictive Data Selection*): learn
what records with high predictive strength look like, with a fastText classifier, and keep the
records it scores highest. The probes' losses are expensive; the classifier scores a pool at tens
of thousands of records per second, which is why the method exists."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from ...errors import ConfigError
from ..base import Step, StepConfig, register
from ..common.chunked_scoring import ChunkedScoring, fixed_spans
from ..common.text import field_text
from ..decisions import ORDER, Decisions, verdicts
from ..score.fasttext import classifier_text
from .top import char_budget_count

MIN_PER_LABEL = 10
CLASSIFY_ROWS = 50_000     # records per classifier chunk (their texts are what a chunk holds in memory)


@register("select.preselect")
class SelectPreselect(ChunkedScoring, Step):
    """Positives: the records whose `strength` (default `score_predictive`, from
    `score.predictive_strength`) is 1.0, or, when fewer than `min_positives` are, the
    `positive_fraction` highest; negatives: as many from the bottom. A fastText classifier is
    trained on them (the paper's settings: 3 epochs, lr 0.1, word bigrams; a tenth held out for
    precision/recall), saved in the run as `cache/preselect.bin` (usable as a `score.fasttext`
    model on new data), and scores every record (`score_preselect`, the positive label's
    probability). Kept: the top `char_fraction` of characters (default 0.1, the paper's) or the
    top `fraction` of records; the rest go to the ledger as `not_preselected`."""

    scope = "dataset"

    class Config(StepConfig):
        strength: str = Field("score_predictive", description="the predictive-strength column")
        fields: list[str] = Field(["instruction", "context", "response"], description="text the classifier reads")
        min_positives: int = Field(100, ge=MIN_PER_LABEL, description="fewer records at strength 1.0: use the top "
                                                                      "`positive_fraction` instead")
        positive_fraction: float = Field(0.1, gt=0, lt=0.5, description="share labelled positive (and negative) "
                                                                        "when too few reach 1.0")
        char_fraction: Optional[float] = Field(None, gt=0, le=1, description="keep this share of all characters "
                                                                             "(default 0.1)")
        fraction: Optional[float] = Field(None, gt=0, le=1, description="or this share of the records")
        epoch: int = Field(3, ge=1)
        lr: float = Field(0.1, gt=0)
        word_ngrams: int = Field(2, ge=1)

        @model_validator(mode="after")
        def _one(self):
            if self.char_fraction is not None and self.fraction is not None:
                raise ValueError("give `char_fraction` or `fraction`, not both")
            if self.char_fraction is None and self.fraction is None:
                self.char_fraction = 0.1
            return self

    @property
    def classifier(self) -> Path:
        return Path(self.ctx.cache_dir or ".") / "preselect.bin"

    def prepare_scoring(self, data: pl.LazyFrame) -> dict:
        """Train the classifier on the scored records' strongest and weakest (only those records
        are read): `cache/preselect.bin`, which scores the chunks."""
        from ...models.fasttext_model import train_rows
        cfg = self.config
        if cfg.strength not in data.collect_schema().names():
            raise ConfigError(f"select.preselect: no column {cfg.strength!r}; run score.predictive_strength first")
        # cast, then filter: polars 2.1 fails a strict cast pushed into the Parquet scan on nulls
        frame = data.select(pl.col(cfg.strength).cast(pl.Float64).alias("_s"),
                            classifier_text(cfg.fields).alias("_text")) \
            .filter(pl.col("_s").is_not_null() & pl.col("_s").is_not_nan()).collect()
        strength = frame["_s"].to_numpy()
        perfect = np.flatnonzero(strength >= 1.0)
        order = np.argsort(-strength, kind="stable")
        if len(perfect) >= cfg.min_positives:
            positives, rule = perfect, "strength 1.0"
        else:
            positives, rule = order[:int(round(frame.height * cfg.positive_fraction))], \
                f"top {cfg.positive_fraction:.0%} (only {len(perfect)} at strength 1.0)"
        negatives = order[::-1][:len(positives)]
        negatives = negatives[~np.isin(negatives, positives)]
        if min(len(positives), len(negatives)) < MIN_PER_LABEL:
            raise ConfigError(f"select.preselect: {len(positives)} positives and {len(negatives)} negatives from "
                              f"{frame.height} scored records; at least {MIN_PER_LABEL} of each are needed to "
                              "train the classifier (score more records)")
        texts = frame["_text"].to_list()
        rows = [f"__label__pos {texts[k]}" for k in positives] + [f"__label__neg {texts[k]}" for k in negatives]
        random.Random(self.ctx.seed).shuffle(rows)
        report = train_rows(rows, self.classifier, 0.1, cfg.epoch, cfg.lr, cfg.word_ngrams, 64, self.ctx.seed)
        return {"positives": int(len(positives)), "negatives": int(len(negatives)), "positive_rule": rule,
                "at_strength_1": int(len(perfect)), "classifier": str(self.classifier),
                "held_out": {k: report.get(k) for k in ("valid", "valid_precision_at_1", "valid_recall_at_1")}}

    def score_columns(self, data: pl.LazyFrame) -> pl.LazyFrame:
        return data.select(classifier_text(self.config.fields).alias("_text"))

    def decide_columns(self, data: pl.LazyFrame) -> pl.LazyFrame:
        """The pool's texts are read chunk by chunk, never all at once."""
        return data.select(pl.col(ORDER), pl.col("id"), field_text("text").fill_null("").str.len_chars().alias("_c"))

    @staticmethod
    def chunks(n: int) -> list[tuple[int, int]]:
        return fixed_spans(n, CLASSIFY_ROWS) or [(0, 0)]

    def scored(self, chunk: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
        """`score_preselect` of a chunk: the positive label's probability (a chunk spread over the
        cores, as `normalize.text` spreads a batch; the same numbers as in one process)."""
        from ...models.fasttext_model import predict_many
        probability = predict_many(self.classifier, chunk["_text"].to_list())["pos"]
        return pl.DataFrame({"score_preselect": pl.Series(probability, dtype=pl.Float64)}), {}

    def decide_scored(self, frame: pl.DataFrame, scores: pl.DataFrame, stats: dict) -> Decisions:
        """Keep the highest-scored records, up to the character or record budget."""
        cfg = self.config
        probability = scores["score_preselect"].to_numpy()
        rank = np.argsort(-probability, kind="stable")
        keep_n = int(round(len(rank) * cfg.fraction)) if cfg.fraction is not None else \
            char_budget_count(frame["_c"].to_numpy()[rank], cfg.char_fraction)
        keep = np.zeros(len(rank), dtype=bool)
        keep[rank[:keep_n]] = True
        cutoff = float(probability[rank[keep_n - 1]]) if keep_n else float("nan")
        details = [None if k else f"score_preselect {p:.4g} below cut-off {cutoff:.4g}"
                   for k, p in zip(keep, probability)]
        columns = {"score_preselect": scores["score_preselect"]}
        return Decisions(verdicts(frame, ~keep, "not_preselected", details, columns), stats={**stats, "kept": keep_n})
