"""The local engine: stream a stage's input through one step in batches, in one process.

Memory stays bounded by the batch size (plus what a step keeps, e.g. dedup digests): the input
is read from Parquet batch by batch and outputs are appended to Parquet as they come.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl
import pyarrow.parquet as pq

from ..records import SCHEMA
from ..steps.base import LEDGER_SCHEMA, Step
from .parquet_out import ParquetOut


@dataclass
class StageCounts:
    rows_in: int = 0
    kept: int = 0
    rejected: int = 0
    added: int = 0
    declined: int = 0           # ledger rows about derived records not built (parents stay kept)
    reasons: Counter = field(default_factory=Counter)
    stats: dict = field(default_factory=dict)


def ledger_frame(rows: pl.DataFrame, stage: int, step: str) -> pl.DataFrame:
    return rows.select(pl.col("id"), pl.lit(stage, dtype=pl.Int32).alias("stage"),
                       pl.lit(step).alias("step"), pl.col("reason"), pl.col("detail"), pl.col("origin"))


LEDGER_OUT_SCHEMA = {"id": pl.Utf8, "stage": pl.Int32, "step": pl.Utf8, **{k: v for k, v in LEDGER_SCHEMA.items()
                                                                           if k != "id"}}


def run_step(step: Step, in_path: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
             batch_size: int, advance: Callable[[int], None] = lambda n: None) -> StageCounts:
    counts = StageCounts()
    if step.scope == "dataset":
        step.fit(pl.scan_parquet(in_path))
    source = pq.ParquetFile(in_path)
    out.empty_schema = pl.from_arrow(source.schema_arrow.empty_table()).schema
    for arrow_batch in source.iter_batches(batch_size=batch_size):
        batch = pl.from_arrow(arrow_batch)
        counts.rows_in += batch.height
        result = step.apply(batch)
        out.write(result.kept)
        counts.kept += result.kept.height
        if result.added is not None and result.added.height:
            out.write(result.added)
            counts.added += result.added.height
        if result.rejected.height:
            rejected.write(ledger_frame(result.rejected, stage, step.name))
            counts.reasons.update(result.rejected["reason"].to_list())
        counts.rejected += result.rejected.height
        if result.declined is not None and result.declined.height:
            rejected.write(ledger_frame(result.declined, stage, step.name))
            counts.reasons.update(result.declined["reason"].to_list())
            counts.declined += result.declined.height
        for key, value in result.stats.items():  # numbers add up over batches; labels are kept
            counts.stats[key] = counts.stats.get(key, 0) + value if isinstance(value, (int, float)) else value
        advance(batch.height)
    return counts


__all__ = ["StageCounts", "run_step", "ledger_frame", "LEDGER_OUT_SCHEMA", "SCHEMA"]
