"""What the model-scoring steps read: each record's conversation columns, once, from the stage's
lazy scan (with the input order column the decisions are keyed by)."""

from __future__ import annotations

import polars as pl

CONVERSATION = ["_order", "id", "instruction", "context", "response", "system", "history"]


def conversation_frame(data: pl.LazyFrame, extra: list[str] = ()) -> pl.DataFrame:
    names = data.collect_schema().names()
    wanted = CONVERSATION + [c for c in extra if c not in CONVERSATION]
    return data.select([c for c in wanted if c in names]).collect()
