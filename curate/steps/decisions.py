"""Decision frames: what a dataset-scope step decided, keyed by record, applied by any engine.

A dataset-scope step sees the whole stage input once (`Step.decide`) and answers with frames, not
with state that must be replayed in batch order:

- `verdicts`: one row per input record, in input order: `_order`, `id`, `reason` (null: kept),
  `detail`, plus any columns the step adds to kept records (`tag_cluster`, ...);
- `added`: records the step derived, each with its parent's `_order`;
- `declined`: step rows (id, reason, detail, origin) about derived records not built, each with
  its parent's `_order`.

`_order` is the record's position in the stage input. Together with the id it names one record
even where exact duplicates share an id, and it is the tie-break every "first in input order"
rule uses. `apply_verdicts` turns the verdicts of a batch's records into that batch's `Result`;
an engine finds those verdicts however it partitions the data (the local engine slices them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ..errors import InvariantError
from .base import Result, rejected_rows

ORDER = "_order"


@dataclass
class Decisions:
    """A dataset-scope step's answer: verdicts for every input record, records it added and attempts
    it declined (both with their parent's `_order`), and stats for the manifest."""

    verdicts: pl.DataFrame
    added: pl.DataFrame | None = None
    declined: pl.DataFrame | None = None
    stats: dict = field(default_factory=dict)


def verdicts(frame: pl.DataFrame, drop: np.ndarray | None = None, reason: str | pl.Series | None = None,
             details: dict[int, str] | list[str | None] | None = None,
             columns: dict[str, pl.Series] | None = None) -> pl.DataFrame:
    """Verdicts for the rows of `frame` (which holds `_order` and `id`, in input order): rows
    marked in `drop` get `reason` (one for all, or one per row) and their detail (a dict from row
    position, or one per row); `columns` are added to every row."""
    n = frame.height
    if drop is None:
        drop = np.zeros(n, dtype=bool)
    if isinstance(details, dict):
        detail_list: list[str | None] = [None] * n
        for row, text in details.items():
            detail_list[row] = text
    else:
        detail_list = list(details) if details is not None else [None] * n
    dropped = pl.Series(drop, dtype=pl.Boolean)
    out = frame.select(pl.col(ORDER).cast(pl.UInt64), pl.col("id")).with_columns(
        pl.when(dropped).then(reason.cast(pl.Utf8) if isinstance(reason, pl.Series) else pl.lit(reason, dtype=pl.Utf8))
        .otherwise(None).alias("reason"),
        pl.when(dropped).then(pl.Series(detail_list, dtype=pl.Utf8)).otherwise(None).alias("detail"))
    return out.with_columns(list((columns or {}).values())) if columns else out


def keep_all(frame: pl.DataFrame, columns: dict[str, pl.Series] | None = None) -> pl.DataFrame:
    """Verdicts that keep every record (a step that only tags, or only adds records)."""
    return verdicts(frame, columns=columns)


def with_parent_order(rows: list[dict], schema: dict) -> pl.DataFrame | None:
    """Derived records or declined rows (dicts holding their parent's `_order`) as one frame."""
    if not rows:
        return None
    return pl.DataFrame(rows, schema={**schema, ORDER: pl.UInt64})


def apply_verdicts(batch: pl.DataFrame, part: pl.DataFrame, stats: dict) -> Result:
    """The `Result` for `batch` (with `_order`) given the verdicts of its records (`part`, any
    order). Each verdict must name the record at its position, or the engine has mixed up rows.
    Columns a verdict frame adds replace the batch's columns of the same name."""
    part = part.rename({"id": "_vid", "reason": "_vreason", "detail": "_vdetail"})
    tags = [c for c in part.columns if c not in (ORDER, "_vid", "_vreason", "_vdetail")]
    if part.height == batch.height and part[ORDER].equals(batch[ORDER].cast(pl.UInt64)):
        joined = batch.with_columns(part.drop(ORDER).get_columns())
    else:
        joined = batch.drop([c for c in tags if c in batch.columns]).with_columns(
            pl.col(ORDER).cast(pl.UInt64)).join(part, on=ORDER, how="left", maintain_order="left")
    mismatch = joined.filter(pl.col("_vid").is_null() | (pl.col("_vid") != pl.col("id")))
    if mismatch.height:
        row = mismatch.row(0, named=True)
        raise InvariantError(f"no verdict for record {row['id']} at input position {row[ORDER]} "
                             f"(the verdict there names {row['_vid']})")
    keep = joined["_vreason"].is_null()
    kept = joined.filter(keep).drop("_vid", "_vreason", "_vdetail")
    dropped = joined.filter(~keep)
    return Result(kept=kept, rejected=rejected_rows(dropped, pl.col("_vreason"), pl.col("_vdetail")), stats=stats)
