"""The rejected ledger: one row for every record a stage did not pass on, and why.

This is the only place its schema is written down. A step returns *step rows* (`id, reason,
detail, origin`); the engine stamps them with the stage number and step name into *ledger rows*,
the schema of `stages/NN-<step>.rejected.parquet` and of the run's `rejected.parquet`.
"""

from __future__ import annotations

import polars as pl

STEP_ROW_SCHEMA: dict[str, pl.DataType] = {"id": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8, "origin": pl.Utf8}
LEDGER_SCHEMA: dict[str, pl.DataType] = {"id": pl.Utf8, "stage": pl.Int32, "step": pl.Utf8, "reason": pl.Utf8,
                                         "detail": pl.Utf8, "origin": pl.Utf8}


def step_rows(frame: pl.DataFrame, reason: str | pl.Expr, detail: str | pl.Expr) -> pl.DataFrame:
    """Step rows for every record of `frame`: its id and origin, with `reason` and `detail`."""
    reason = pl.lit(reason) if isinstance(reason, str) else reason
    detail = pl.lit(detail) if isinstance(detail, str) else detail
    return frame.select(pl.col("id"), reason.cast(pl.Utf8).alias("reason"),
                        detail.cast(pl.Utf8).alias("detail"), pl.col("origin"))


def step_rows_from_dicts(rows: list[dict]) -> pl.DataFrame:
    """Step rows built from dicts with the keys of `STEP_ROW_SCHEMA` (the read stage's quarantine,
    a composing step's declined attempts)."""
    return pl.DataFrame(rows, schema=STEP_ROW_SCHEMA)


def ledger_rows(rows: pl.DataFrame, stage: int, step: str) -> pl.DataFrame:
    """Step rows stamped with the stage that wrote them: the ledger's own schema."""
    return rows.select(pl.col("id"), pl.lit(stage, dtype=pl.Int32).alias("stage"),
                       pl.lit(step).alias("step"), pl.col("reason"), pl.col("detail"), pl.col("origin"))
