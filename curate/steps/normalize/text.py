"""`normalize.text`: repair broken Unicode (ftfy), apply a Unicode normal form and tidy whitespace.

ftfy is slow, so it runs only on texts that could change: a text made of printable ASCII, tabs
and newlines, without '&', is left exactly as ftfy would leave it (tests check this parity).
Leading indentation is kept because instruction data is full of code.
"""

from __future__ import annotations

import os
import unicodedata
from functools import partial
from typing import Literal

import polars as pl
from pydantic import Field

from ..base import Result, Step, StepConfig, register

NEEDS_FTFY = r"[^\t\n\x20-\x7e]|&"
ODD_SPACES = r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"
ZERO_WIDTH = r"[\u200b\u200c\u200d\u2060\ufeff]"
SPACE_WORK = ODD_SPACES + "|" + ZERO_WIDTH + r"|\r|[ \t]\n|\n\n\n"


PARALLEL_MIN = 2000  # below this many texts a process pool costs more than it saves


def fix_one(text: str, form: str = "NFC", fix_unicode: bool = True) -> str:
    if fix_unicode:
        import ftfy
        return ftfy.fix_text(text, normalization=form)
    return unicodedata.normalize(form, text)


def fix_many(texts: list[str], form: str, fix_unicode: bool) -> list[str]:
    """ftfy is pure Python; with many texts to fix, spread them over the machine's cores."""
    workers = min(os.cpu_count() or 1, 8)
    if len(texts) < PARALLEL_MIN or workers < 2:
        return [fix_one(t, form, fix_unicode) for t in texts]
    from ...workers import shared_pool
    return list(shared_pool(workers).map(partial(fix_one, form=form, fix_unicode=fix_unicode), texts, chunksize=128))


@register("normalize.text")
class NormalizeText(Step):
    """Fix mojibake and broken Unicode with ftfy, normalize to NFC (or NFKC), replace odd spaces,
    drop zero-width characters, strip trailing spaces on each line, squeeze 3+ blank lines to one
    blank line and trim both ends. Never rejects a record; `stats.changed` counts changed texts."""

    class Config(StepConfig):
        fields: list[str] = Field(["instruction", "context", "response", "system"],
                                  description="text columns to normalize")
        fix_unicode: bool = Field(True, description="run ftfy.fix_text where it can change something")
        unicode_form: Literal["NFC", "NFKC"] = Field("NFC", description="Unicode normal form")
        whitespace: bool = Field(True, description="tidy whitespace (keeps indentation)")
        collapse_spaces: bool = Field(False, description="also squeeze runs of spaces inside lines")

    def _fix(self, col: pl.Series) -> pl.Series:
        """Unicode repair on the texts that could change (non-ASCII, '&' or control characters)."""
        needs = col.str.contains(NEEDS_FTFY).fill_null(False)
        if not needs.any():
            return col
        rows = needs.arg_true().to_list()
        values = col.to_list()
        fixed = fix_many([values[i] for i in rows], self.config.unicode_form, self.config.fix_unicode)
        for i, text in zip(rows, fixed):
            values[i] = text
        return pl.Series(col.name, values, dtype=pl.Utf8)

    def _space(self, col: pl.Series) -> pl.Series:
        """Whitespace tidy. The replacement chain runs only on rows that contain something to tidy."""
        needs = col.str.contains(SPACE_WORK + ("|\\S {2,}" if self.config.collapse_spaces else "")).fill_null(False)
        if needs.any():
            rows = needs.arg_true()
            expr = (pl.col("t").str.replace_all(ODD_SPACES, " ").str.replace_all(ZERO_WIDTH, "")
                    .str.replace_all(r"\r\n?", "\n").str.replace_all(r"[ \t]+\n", "\n"))
            if self.config.collapse_spaces:
                expr = expr.str.replace_all(r"(\S) {2,}", "$1 ")
            expr = expr.str.replace_all(r"\n{3,}", "\n\n")
            fixed = pl.DataFrame({"t": col.gather(rows)}).select(expr).to_series()
            col = col.scatter(rows, fixed)
        return col.str.strip_chars()

    def apply(self, batch: pl.DataFrame) -> Result:
        changed = 0
        updates = []
        for name in self.config.fields:
            if name not in batch.columns:
                continue
            before = batch[name]
            after = self._fix(before)
            if self.config.whitespace:
                after = self._space(after).alias(name)
            changed += int((before != after).fill_null(False).sum())
            updates.append(after)
        return Result(kept=batch.with_columns(updates), stats={"changed": changed})
