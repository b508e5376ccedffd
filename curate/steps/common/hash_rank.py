"""Deterministic sampling by hash rank, shared by `select.sample` and `select.mix`.

Each record gets a pseudo-random rank from (seed, id, origin). Keeping the k lowest ranks of a
group is a uniform sample that does not depend on batch boundaries or row order, so a step can
learn per-group thresholds from a lazy scan of (id, origin, group) alone and then filter any batch.
"""

from __future__ import annotations

import polars as pl


def ranks(frame: pl.DataFrame | pl.LazyFrame, seed: int):
    """Unsigned 64-bit rank per row. polars' hash is stable for a given polars version; the
    recorded library versions in the manifest make that explicit."""
    return frame.with_columns(
        pl.concat_str([pl.col("id"), pl.col("origin")], separator="\x1f").hash(seed=seed).alias("_rank"))


def thresholds(data: pl.LazyFrame, group: str | None, want: dict, seed: int) -> dict:
    """For each group value, the largest rank to keep so that `want[group]` rows are kept."""
    cols = ["id", "origin"] + ([group] if group else [])
    frame = ranks(data.select(cols), seed).collect()
    out = {}
    grouped = frame.group_by(group) if group else [((None,), frame)]
    for key, part in grouped:
        key = key[0] if isinstance(key, tuple) else key
        k = want.get(key, 0)
        if k <= 0:
            out[key] = None
        elif k >= len(part):
            out[key] = 2**64 - 1
        else:
            out[key] = int(part["_rank"].sort()[k - 1])
    return out


def keep_mask(batch: pl.DataFrame, group: str | None, limits: dict, seed: int) -> pl.Series:
    ranked = ranks(batch.select(["id", "origin"] + ([group] if group else [])), seed)
    keys = ranked[group] if group else pl.Series([None] * len(ranked))
    limit = keys.replace_strict(limits, default=None, return_dtype=pl.UInt64) if group else \
        pl.Series([limits.get(None)] * len(ranked), dtype=pl.UInt64)
    return (ranked["_rank"] <= limit).fill_null(False)


def group_counts(data: pl.LazyFrame, group: str | None) -> dict:
    if group is None:
        return {None: data.select(pl.len()).collect().item()}
    counts = data.group_by(group).agg(pl.len()).collect()
    return dict(zip(counts[group].to_list(), counts["len"].to_list()))
