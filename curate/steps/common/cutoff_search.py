"""Finding a selection's cut-off without gathering the ranking column: the distributed selection
that `select.top` and `select.sample` use on the Ray engine.

A step ranks records by a key (`_key`, lower is kept first; input order `_order` breaks ties) and
keeps, within each group (`_group`), the smallest keys until their weights (`_weight`: 1 per
record, or a record's characters) reach a target. The cut-off is the (key, order) of the last
record kept. With the records spread over slices, it is found in two rounds, each over every
slice, holding little on the driver:

1. `slice_summary`: each slice, sorted, reports its totals per group and every `spacing`-th
   record's key with the weight up to it (about `POINTS` per slice);
2. `bracket` (driver): from those points, bounds `lo` < cut-off <= `hi` per group, valid whatever
   lies between the points;
3. `slice_bracket`: each slice reports the weight and count of its records at or below `lo`, and
   the records between `lo` and `hi` (a few spacings' worth per slice);
4. `cutoffs` (driver): the exact cut-off from those records.

The result is the cut-off a full sort would give, so an engine that uses it keeps the same records.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from ..decisions import ORDER

POINTS = 1000           # summary points per slice
KEYS = ["_group", "_key", ORDER]


def slice_summary(ranked: pl.DataFrame, points: int = POINTS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(totals: `_group`, rows, weight, meets (records with `_meets`, where given); points:
    `_group`, `_key`, `_order`, `_cum` (the weight of the slice's records up to this one))."""
    r = ranked.sort(KEYS, nulls_last=True).with_columns(
        pl.col("_weight").cum_sum().over("_group").alias("_cum"),
        pl.int_range(pl.len()).over("_group").alias("_pos"), pl.len().over("_group").alias("_n"))
    spacing = max(1, math.ceil(r.height / points))
    summary = r.filter(((pl.col("_pos") + 1) % spacing == 0) | (pl.col("_pos") == pl.col("_n") - 1))
    meets = pl.col("_meets").sum() if "_meets" in r.columns else pl.lit(0)
    totals = r.group_by("_group").agg(pl.len().alias("rows"), pl.col("_weight").sum().alias("weight"),
                                      meets.alias("meets"))
    return totals, summary.select(KEYS + ["_cum"])


def group_items(frame: pl.DataFrame) -> list[tuple[object, pl.DataFrame]]:
    return [(key[0], part) for key, part in frame.partition_by("_group", as_dict=True, maintain_order=True).items()]


def bracket(points: list[pl.DataFrame], targets: dict) -> pl.DataFrame:
    """Per group with a target weight: `lo` (the largest summary point whose weight is surely
    below the target; null: none) and `hi` (the smallest whose weight surely reaches it; null: the
    group's end), each as (key, order). `points[i]` are slice i's summary points."""
    tagged = pl.concat([p.with_columns(pl.lit(i, dtype=pl.Int64).alias("_slice")) for i, p in enumerate(points)])
    rows = []
    for group, part in group_items(tagged):
        target = targets.get(group)
        if target is None:
            continue
        part = part.sort(["_key", ORDER])
        key, order, cum, where = (part[c].to_numpy() for c in ("_key", ORDER, "_cum", "_slice"))
        lower = np.zeros(len(part))
        upper = np.zeros(len(part))
        for s in np.unique(where):
            mine = where == s
            seen = np.cumsum(mine)                         # this slice's points at or before each point
            cums = cum[mine]
            lower += np.where(seen > 0, cums[np.maximum(seen - 1, 0)], 0)
            upper += cums[np.minimum(seen, len(cums) - 1)]  # its next point's weight (its last: its total)
        below = np.flatnonzero(upper < target)
        reach = np.flatnonzero(lower >= target)
        lo = below[-1] if len(below) else None
        hi = reach[0] if len(reach) else None
        rows.append({"_group": group, "_lo_key": None if lo is None else key[lo].item(),
                     "_lo_order": None if lo is None else int(order[lo]),
                     "_hi_key": None if hi is None else key[hi].item(),
                     "_hi_order": None if hi is None else int(order[hi])})
    key_type = points[0].schema["_key"]
    return pl.DataFrame(rows, schema={"_group": points[0].schema["_group"], "_lo_key": key_type,
                                      "_lo_order": pl.UInt64, "_hi_key": key_type, "_hi_order": pl.UInt64})


def at_or_below(key: str, order: str) -> pl.Expr:
    """(`_key`, `_order`) <= (key, order) column-wise; a null bound is +infinity."""
    return (pl.col(key).is_null() | (pl.col("_key") < pl.col(key))
            | ((pl.col("_key") == pl.col(key)) & (pl.col(ORDER) <= pl.col(order))))


def slice_bracket(ranked: pl.DataFrame, bounds: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(below: `_group`, weight and count of the slice's records at or below `lo`; between: its
    records above `lo` and at or below `hi`, every column of `ranked`)."""
    joined = ranked.join(bounds, on="_group", how="inner", nulls_equal=True)
    no_lo = pl.col("_lo_key").is_null() & pl.col("_lo_order").is_null()
    low = ~no_lo & at_or_below("_lo_key", "_lo_order")
    below = joined.filter(low).group_by("_group").agg(pl.col("_weight").sum().alias("weight"),
                                                      pl.len().alias("rows"))
    between = joined.filter(~low & at_or_below("_hi_key", "_hi_order")).select(ranked.columns)
    return below, between


def cutoffs(below: list[pl.DataFrame], between: list[pl.DataFrame], targets: dict) -> dict:
    """Per group with a target: the last record kept (its row of `ranked`, as a dict) and how
    many records are kept (`kept`)."""
    base = pl.concat(below).group_by("_group").agg(pl.col("weight").sum(), pl.col("rows").sum()) if below else None
    under = {g: (p["weight"].item(), p["rows"].item()) for g, p in group_items(base)} if base is not None else {}
    rows = pl.concat(between) if between else None
    parts = dict(group_items(rows)) if rows is not None and rows.height else {}
    found = {}
    for group, target in targets.items():
        if target is None:
            continue
        weight, count = under.get(group, (0.0, 0))
        part = parts.get(group)
        if part is None:
            continue
        part = part.sort(["_key", ORDER])
        cum = weight + np.cumsum(part["_weight"].to_numpy())
        i = min(int(np.searchsorted(cum, target)), part.height - 1)
        found[group] = {**part.row(i, named=True), "kept": count + i + 1}
    return found
