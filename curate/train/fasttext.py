"""`curate fasttext train`: a fastText classifier from labelled records, with a held-out check.

Predictive data selection needs a cheap scorer of "data like the data that helps": label records
(good / other, a task, a source), train here, score any dataset with `score.fasttext`, keep the
best with `select.top`. Training and scoring see the same text (`steps/score/fasttext.py`, `classifier_text`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl

from ..errors import ConfigError
from ..io.load import load_records
from ..records import CORE_COLUMNS


def train_classifier(data: str, label_field: str, out: Path, fields: list[str] | None = None,
                     valid_fraction: float = 0.1, epoch: int = 10, lr: float = 0.5, word_ngrams: int = 2,
                     dim: int = 64, seed: int = 0) -> dict:
    """Train, save `out` (.bin) and `out`.json (labels, counts, held-out precision/recall); return the report."""
    from ..models.fasttext_model import train_rows
    from ..steps.score.fasttext import classifier_text
    fields = fields or ["instruction", "context", "response"]
    records = load_records(data, keep=[] if label_field in CORE_COLUMNS else [label_field])
    if label_field not in records.columns:
        raise ConfigError(f"--label-field {label_field}: no such field in {data}; columns: {', '.join(records.columns)}")
    frame = records.select(pl.col(label_field).cast(pl.Utf8).str.replace_all(r"\s+", "_").alias("label"),
                           classifier_text(fields).alias("text"))
    unlabeled = frame["label"].is_null().sum()
    frame = frame.filter(pl.col("label").is_not_null() & (pl.col("text") != ""))
    counts = dict(frame["label"].value_counts(sort=True).rows())
    if len(counts) < 2:
        raise ConfigError(f"--label-field {label_field}: needs at least two labels, found {sorted(counts)}")
    rows = [f"__label__{lab} {text}" for lab, text in frame.rows()]
    random.Random(seed).shuffle(rows)
    report = {"data": data, "label_field": label_field, "fields": fields, "labels": counts,
              "unlabeled_skipped": int(unlabeled)}
    report.update(train_rows(rows, Path(out), valid_fraction, epoch, lr, word_ngrams, dim, seed))
    Path(out).with_name(Path(out).name + ".json").write_text(json.dumps(report, indent=2))
    return report
