"""The shape shared by the per-field quality heuristics: check some fields, reject on the first
failing one with a reason and a detail naming the field, and say what to do when a field is missing.

A check is a polars expression over one field's text, so every heuristic runs column-wise in
polars' native code, not in a Python loop over records.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import polars as pl
from pydantic import Field

from ..base import Result, Step, StepConfig, split_by_reason
from ..common.text import SQUEEZE, field_text, require_fields


def squeezed_lower(text: pl.Expr) -> pl.Expr:
    """Text lowercased with whitespace squeezed and trimmed, for comparing texts as a reader would."""
    return text.str.to_lowercase().str.replace_all(SQUEEZE, " ").str.strip_chars()


class FieldCheckConfig(StepConfig):
    fields: list[str] = Field(["response"], description="fields checked (any text column, `history` or `text`)")
    on_missing: Literal["skip", "reject"] = Field(
        "skip", description="a record whose field is missing (null): `skip` the check, or `reject` it (`missing_field`)")


class FieldCheck(Step):
    """Base of the heuristics: subclasses set `reason` and implement `check(text) -> (bad, detail)`."""

    reason: ClassVar[str]
    Config: ClassVar[type[FieldCheckConfig]] = FieldCheckConfig

    def check(self, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        raise NotImplementedError

    def apply(self, batch: pl.DataFrame) -> Result:
        cfg = self.config
        require_fields(self.name, cfg.fields, batch.columns)
        reason, detail = pl.lit(None, dtype=pl.Utf8), pl.lit(None, dtype=pl.Utf8)
        for name in reversed(cfg.fields):   # the first failing field (in config order) names the reason
            text = field_text(name)
            bad, why = self.check(text)
            missing = text.is_null()
            if cfg.on_missing == "reject":
                reason = pl.when(missing).then(pl.lit("missing_field")).otherwise(reason)
                detail = pl.when(missing).then(pl.lit(f"{name} is missing")).otherwise(detail)
            failed = ~missing & bad.fill_null(False)
            reason = pl.when(failed).then(pl.lit(self.reason)).otherwise(reason)
            detail = pl.when(failed).then(pl.format(f"{name}: {{}}", why)).otherwise(detail)
        res = split_by_reason(batch, reason, detail)
        return res
