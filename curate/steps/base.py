"""What a step is: a typed config and one method over a batch of records.

Steps never import an engine and never reach into the runner. A step that must see the whole
dataset first (sampling, global selection) sets `scope = "dataset"` and gets a lazy scan in
`fit`; every step then sees batches in order through `apply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

LEDGER_SCHEMA = {"id": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8, "origin": pl.Utf8}


class StepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HowMany(StepConfig):
    """Config part of the selection steps: keep `n` records or a `fraction` of them."""

    n: Optional[int] = Field(None, ge=0, description="records to keep (per group where the step groups)")
    fraction: Optional[float] = Field(None, gt=0, le=1, description="fraction of records to keep")

    @model_validator(mode="after")
    def _one_of_n_or_fraction(self):
        if (self.n is None) == (self.fraction is None):
            raise ValueError("give exactly one of `n` or `fraction`")
        return self

    def count(self, total: int) -> int:
        return self.n if self.n is not None else int(round(total * self.fraction))


@dataclass
class Context:
    """What a step may know about the run: the seed, a folder for caches, the stage number."""

    seed: int = 0
    stage: int = 0
    cache_dir: str | None = None   # a folder of this run for indexes and other artifacts
    base_dir: str | None = None    # the recipe's folder, for relative paths in step configs


@dataclass
class Result:
    """Output of one batch: rows kept, rows rejected (with reason), rows added (with parent_ids).

    `declined` is for steps that add records: ledger rows (the parent's id) for derived records the
    step tried to build and could not, with the reason. The parent itself stays in `kept`; declined
    rows are in the ledger so that nothing a step attempted disappears without a trace."""

    kept: pl.DataFrame
    rejected: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LEDGER_SCHEMA))
    added: pl.DataFrame | None = None
    declined: pl.DataFrame | None = None
    stats: dict[str, int] = field(default_factory=dict)


def rejected_rows(frame: pl.DataFrame, reason: str | pl.Expr, detail: str | pl.Expr) -> pl.DataFrame:
    """Ledger rows for `frame`: id, reason, detail, origin."""
    reason = pl.lit(reason) if isinstance(reason, str) else reason
    detail = pl.lit(detail) if isinstance(detail, str) else detail
    return frame.select(pl.col("id"), reason.cast(pl.Utf8).alias("reason"),
                        detail.cast(pl.Utf8).alias("detail"), pl.col("origin"))


def split(batch: pl.DataFrame, keep: pl.Series | pl.Expr, reason: str | pl.Expr,
          detail: str | pl.Expr) -> Result:
    """Split a batch by a boolean mask: True rows are kept, the others go to the ledger."""
    mask = keep if isinstance(keep, pl.Series) else batch.select(keep.alias("_keep")).to_series()
    mask = mask.fill_null(False)
    return Result(kept=batch.filter(mask), rejected=rejected_rows(batch.filter(~mask), reason, detail))


def split_by_reason(batch: pl.DataFrame, reason: pl.Expr, detail: pl.Expr) -> Result:
    """Rows where `reason` is null are kept; the others go to the ledger with that reason and detail."""
    frame = batch.with_columns(reason.alias("_reason"), detail.alias("_detail"))
    res = split(frame, pl.col("_reason").is_null(), pl.col("_reason"), pl.col("_detail"))
    res.kept = res.kept.drop("_reason", "_detail")
    return res


class Step:
    """Base class. Subclasses set `name`, `Config`, and implement `apply` (and `fit` if
    `scope == "dataset"`). The docstring of a subclass is its user documentation."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    scope: ClassVar[str] = "batch"  # or "dataset"
    Config: ClassVar[type[StepConfig]] = StepConfig

    def __init__(self, config: StepConfig, ctx: Context):
        self.config = config
        self.ctx = ctx

    def fit(self, data: pl.LazyFrame) -> None:
        """Called once with a lazy scan of the whole input when scope == "dataset"."""

    def apply(self, batch: pl.DataFrame) -> Result:
        raise NotImplementedError


class RowCursor:
    """For dataset-scope steps that decide per row in `fit`: which rows a batch covers, in the
    order batches arrive, and whether it is the first batch (where whole-set stats are reported)."""

    def __init__(self):
        self.offset = 0

    def next(self, n: int) -> tuple[slice, bool]:
        rows, first = slice(self.offset, self.offset + n), self.offset == 0
        self.offset += n
        return rows, first


def replay_removals(batch: pl.DataFrame, cursor: RowCursor, removed, detail: dict[int, str], reason: str,
                    stats: dict) -> Result:
    """The batch's share of what a dataset-scope step decided in `fit`: rows marked in `removed`
    (a boolean array over the whole input) go to the ledger with `reason` and their `detail`;
    `stats` are reported with the first batch."""
    span, first = cursor.next(batch.height)
    drop = removed[span]
    mask = pl.Series(~drop)
    details = pl.Series([detail[r] for r in np.arange(span.start, span.stop)[drop]], dtype=pl.Utf8)
    return Result(kept=batch.filter(mask), rejected=rejected_rows(batch.filter(~mask), reason, details),
                  stats=stats if first else {})


REGISTRY: dict[str, type[Step]] = {}


def register(name: str):
    def deco(cls: type[Step]) -> type[Step]:
        cls.name = name
        REGISTRY[name] = cls
        return cls
    return deco
