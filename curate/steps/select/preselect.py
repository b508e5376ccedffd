"""`select.preselect`: predictive data selection (Shum et al., *Predictive Data Selection*): learn
what records with high predictive strength look like, with a fastText classifier, and keep the
records it scores highest. The probes' losses are expensive; the classifier scores a pool at tens
of thousands of records per second, which is why the method exists."""

from __future__ import annotations

import random
from typing import Optional

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from ...errors import ConfigError
from ..base import Step, StepConfig, register
from ..common.text import field_text
from ..decisions import Decisions, verdicts
from ..score.fasttext import classifier_text
from .top import char_budget_count

MIN_PER_LABEL = 10


@register("select.preselect")
class SelectPreselect(Step):
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

    def decide(self, data: pl.LazyFrame) -> Decisions:
        from ...models.fasttext_model import predict_many, train_rows
        cfg = self.config
        names = data.collect_schema().names()
        if cfg.strength not in names:
            raise ConfigError(f"select.preselect: no column {cfg.strength!r}; run score.predictive_strength first")
        frame = data.select(pl.col("_order"), pl.col("id"), pl.col(cfg.strength).cast(pl.Float64).alias("_s"),
                            classifier_text(cfg.fields).alias("_text"),
                            field_text("text").fill_null("").str.len_chars().alias("_c")).collect()
        strength = frame["_s"].to_numpy().astype(np.float64)
        scored = np.flatnonzero(~np.isnan(strength))
        perfect = scored[strength[scored] >= 1.0]
        order = scored[np.argsort(-strength[scored], kind="stable")]
        if len(perfect) >= cfg.min_positives:
            positives, rule = perfect, "strength 1.0"
        else:
            positives, rule = order[:int(round(len(scored) * cfg.positive_fraction))], \
                f"top {cfg.positive_fraction:.0%} (only {len(perfect)} at strength 1.0)"
        negatives = order[::-1][:len(positives)]
        negatives = negatives[~np.isin(negatives, positives)]
        if min(len(positives), len(negatives)) < MIN_PER_LABEL:
            raise ConfigError(f"select.preselect: {len(positives)} positives and {len(negatives)} negatives from "
                              f"{len(scored)} scored records; at least {MIN_PER_LABEL} of each are needed to train "
                              "the classifier (score more records)")
        texts = frame["_text"].to_list()
        rows = [f"__label__pos {texts[k]}" for k in positives] + [f"__label__neg {texts[k]}" for k in negatives]
        random.Random(self.ctx.seed).shuffle(rows)
        from pathlib import Path
        folder = Path(self.ctx.cache_dir or ".")
        report = train_rows(rows, folder / "preselect.bin", 0.1, cfg.epoch, cfg.lr, cfg.word_ngrams, 64,
                            self.ctx.seed)
        probability = predict_many(folder / "preselect.bin", texts)["pos"].astype(np.float64)
        rank = np.argsort(-probability, kind="stable")
        keep_n = int(round(len(rank) * cfg.fraction)) if cfg.fraction is not None else \
            char_budget_count(frame["_c"].to_numpy()[rank], cfg.char_fraction)
        keep = np.zeros(len(rank), dtype=bool)
        keep[rank[:keep_n]] = True
        cutoff = float(probability[rank[keep_n - 1]]) if keep_n else float("nan")
        details = [None if k else f"score_preselect {p:.4g} below cut-off {cutoff:.4g}"
                   for k, p in zip(keep, probability)]
        stats = {"positives": int(len(positives)), "negatives": int(len(negatives)), "positive_rule": rule,
                 "at_strength_1": int(len(perfect)), "classifier": str(folder / "preselect.bin"),
                 "held_out": {k: report.get(k) for k in ("valid", "valid_precision_at_1", "valid_recall_at_1")},
                 "kept": keep_n}
        columns = {"score_preselect": pl.Series("score_preselect", probability, dtype=pl.Float64)}
        return Decisions(verdicts(frame, ~keep, "not_preselected", details, columns), stats=stats)
