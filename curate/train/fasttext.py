"""`curate fasttext train`: a fastText classifier from labelled records, with a held-out check.

Predictive data selection needs a cheap scorer of "data like the data that helps": label records
(good / other, a task, a source), train here, score any dataset with `score.fasttext`, keep the
best with `select.top`. Training and scoring see the same text (`steps/score/fasttext.py`, `classifier_text`).
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import polars as pl

from ..errors import ConfigError
from ..io.load import load_records
from ..records import CORE_COLUMNS


def train_classifier(data: str, label_field: str, out: Path, fields: list[str] | None = None,
                     valid_fraction: float = 0.1, epoch: int = 10, lr: float = 0.5, word_ngrams: int = 2,
                     dim: int = 64, seed: int = 0) -> dict:
    """Train, save `out` (.bin) and `out`.json (labels, counts, held-out precision/recall); return the report."""
    import fasttext
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
    n_valid = int(len(rows) * valid_fraction)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file, valid_file = Path(tmp) / "train.txt", Path(tmp) / "valid.txt"
        train_file.write_text("\n".join(rows[n_valid:]) + "\n", encoding="utf-8")
        valid_file.write_text("\n".join(rows[:n_valid]) + "\n", encoding="utf-8")
        buckets = ngram_buckets(rows[n_valid:], word_ngrams)
        model = fasttext.train_supervised(str(train_file), epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim,
                                          seed=seed, thread=1, verbose=0, bucket=buckets)
        report = {"data": data, "label_field": label_field, "fields": fields, "labels": counts,
                  "unlabeled_skipped": int(unlabeled), "train": len(rows) - n_valid, "valid": n_valid,
                  "params": {"epoch": epoch, "lr": lr, "wordNgrams": word_ngrams, "dim": dim, "seed": seed,
                             "bucket": buckets}}
        if n_valid:
            _, precision, recall = model.test(str(valid_file))
            report["valid_precision_at_1"] = round(precision, 4)
            report["valid_recall_at_1"] = round(recall, 4)
    model.save_model(str(out))
    report["model_bytes"] = out.stat().st_size
    out.with_name(out.name + ".json").write_text(json.dumps(report, indent=2))
    return report


MAX_BUCKETS = 2_000_000       # fastText's default, which alone makes a 512 MB model at dim 64
MIN_BUCKETS = 10_000


def ngram_buckets(rows: list[str], word_ngrams: int) -> int:
    """Hash buckets for word n-grams sized to the data: four per distinct n-gram (few collisions),
    within fastText's default. With the default, 182 training records made a 512 MB model
    (buckets x dim x 4 bytes); sized to the data it is a few MB."""
    if word_ngrams < 2:
        return MIN_BUCKETS
    seen: set[int] = set()
    for row in rows:
        words = row.split()[1:]                     # the first token is the label
        for n in range(2, word_ngrams + 1):
            seen.update(hash(tuple(words[i:i + n])) for i in range(len(words) - n + 1))
    return int(min(MAX_BUCKETS, max(MIN_BUCKETS, 4 * len(seen))))
