"""`filter.decontaminate`: drop training records that share word n-grams with eval items."""

from __future__ import annotations

from typing import Optional

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from ..base import Result, Step, StepConfig, register, split
from ..common.minhash import normalize_for_shingles, shingle_hashes
from .references import read_references
from ..common.text import fields_text


def joined_text(fields: list[str]) -> pl.Expr:
    """Fields joined and normalized as decontamination compares them: lowercase, no punctuation."""
    return normalize_for_shingles(fields_text(fields),
                                  lowercase=True, ignore_punctuation=True)


def _rows_of(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets.astype(np.int64)))


@register("filter.decontaminate")
class Decontaminate(Step):
    """Reject records that share a word `n`-gram (default 13, as in the GPT-3 and Llama reports)
    with any item of the eval sets in `evals` (files or globs in any format curate reads).
    Text is lowercased, punctuation removed and whitespace squeezed on both sides. Eval items
    shorter than `n` words but at least `min_words` long match when their whole word sequence
    appears in a record; shorter ones are ignored (counted as `eval_items_too_short`). The ledger
    (`contaminated`) names the eval item matched (its origin) and how many n-grams are shared."""

    files = ("evals",)

    class Config(StepConfig):
        evals: list[str] = Field(description="eval set files or globs")
        eval_format: Optional[str] = Field(None, description="format of the eval files (auto when absent)")
        fields: list[str] = Field(["instruction", "context", "response"], description="record fields compared")
        eval_fields: Optional[list[str]] = Field(None, description="eval item fields compared (default: `fields`)")
        n: int = Field(13, ge=1, le=64, description="words per n-gram")
        min_words: int = Field(8, ge=1, description="shortest eval item used (in words)")
        min_matches: int = Field(1, ge=1, description="shared n-grams needed to reject")

        @model_validator(mode="after")
        def _min_words(self):
            if self.min_words > self.n:
                raise ValueError(f"min_words ({self.min_words}) is larger than n ({self.n})")
            return self

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.tables: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
        self.report_eval_stats = True     # once, with the first batch

    def _build(self) -> None:
        """Per gram length k: sorted hashes of the eval items' k-grams and the item of each."""
        cfg = self.config
        refs = read_references(cfg.evals, cfg.eval_format, self.ctx, "filter.decontaminate")
        text = refs.select(joined_text(cfg.eval_fields or cfg.fields)).to_series()
        words = text.str.count_matches(" ") + (text.str.len_chars() > 0).cast(pl.UInt32)
        self.origins = refs["origin"].to_list()
        self.tables = {}
        usable = words >= cfg.min_words
        self.stats = {"eval_items": refs.height, "eval_items_too_short": int((~usable).sum())}
        for k in sorted(set(words.filter(usable & (words < cfg.n)).to_list())) + [cfg.n]:
            rows = ((words >= cfg.n) if k == cfg.n else (words == k)).arg_true()
            if len(rows) == 0:
                continue
            hashes, offsets = shingle_hashes(text.gather(rows), "words", k)
            item = rows.to_numpy()[_rows_of(offsets)]
            order = np.argsort(hashes, kind="stable")
            self.tables[k] = (hashes[order], item[order])

    def apply(self, batch: pl.DataFrame) -> Result:
        if self.tables is None:
            self._build()
        cfg = self.config
        text = batch.select(joined_text(cfg.fields)).to_series()
        matches = np.zeros(batch.height, dtype=np.int64)
        first_item = np.full(batch.height, -1, dtype=np.int64)
        for k, (table, items) in self.tables.items():
            hashes, offsets = shingle_hashes(text, "words", k)
            pos = np.clip(np.searchsorted(table, hashes), 0, len(table) - 1)
            hit = table[pos] == hashes
            rows = _rows_of(offsets)[hit]
            matches += np.bincount(rows, minlength=batch.height)
            unset = first_item[rows] < 0
            first_item[rows[unset]] = items[pos[hit]][unset]
        bad = matches >= cfg.min_matches
        detail = pl.Series([f"{m} shared word n-gram(s) (n={cfg.n}) with eval item {self.origins[i]}" if b else ""
                            for b, m, i in zip(bad, matches, first_item)], dtype=pl.Utf8)
        res = split(batch.with_columns(detail.alias("_why")), pl.Series(~bad), "contaminated", pl.col("_why"))
        res.kept = res.kept.drop("_why")
        res.stats = {**(self.stats if self.report_eval_stats else {}), "contaminated": int(bad.sum())}
        self.report_eval_stats = False
        return res
