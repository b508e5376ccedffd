"""Selection by cut-off on a Ray cluster (`select.top`, `.sample`, `.mix`): the workers rank their
slices, and the driver finds each group's cut-off from what they report, never gathering the
ranking column.

Two passes on the workers (`steps/common/cutoff_search.py` says why two are enough):
1. each worker ranks its slices and reports, per slice, its totals per group and about a
   thousand summary points of its sorted keys; the driver turns the totals into each group's
   target (`step.targets`) and the points into bounds around each cut-off;
2. each worker reports, per slice, what lies at or below each lower bound (a weight and a count)
   and the records between the bounds; the driver finds the exact cut-off among those.
Then the driver writes the stage batch by batch, each batch's verdicts made by the step from the
cut-offs (`threshold_verdicts`, with counts that add up over batches), as the local engine would
have decided them.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import polars as pl

from ..steps.base import Step
from ..steps.common.cutoff_search import bracket, cutoffs, slice_bracket, slice_summary
from ..steps.decisions import ORDER
from .base import StageCounts
from .local import write_results
from .parquet_out import ParquetOut
from .ray_passes import in_part_order
from .ray_partitioned import verdict_results
from .ray_workers import built_step, listed_slices, map_items, step_payload


def rankable(step: Step) -> bool:
    return all(hasattr(step, name) for name in ("ranked", "targets", "threshold_verdicts", "threshold_stats"))


def summarize_slices(batch, payload: bytes, source: str):
    """Pass 1: each listed slice's totals and summary points."""
    import pyarrow as pa
    step = built_step(payload)
    parts, blobs = [], []
    for part, offset, rows in listed_slices(batch, source):
        parts.append(part)
        blobs.append(pickle.dumps(slice_summary(step.ranked(rows.with_row_index(ORDER, offset=offset).collect()))))
    return pa.table({"part": parts, "summary": pa.array(blobs, type=pa.large_binary())})


def bracket_slices(batch, payload: bytes, source: str, bounds: bytes):
    """Pass 2: each listed slice's weight at or below the lower bounds, and its records between them."""
    import pyarrow as pa
    step = built_step(payload)
    limits = pickle.loads(bounds)
    parts, blobs = [], []
    for part, offset, rows in listed_slices(batch, source):
        parts.append(part)
        blobs.append(pickle.dumps(slice_bracket(step.ranked(rows.with_row_index(ORDER, offset=offset).collect()),
                                                limits)))
    return pa.table({"part": parts, "bracket": pa.array(blobs, type=pa.large_binary())})


def run_thresholds(ray, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
                   batch_size: int, work: list[dict], pool: int, advance: Callable[[int], None]) -> StageCounts:
    """Both passes, the cut-offs, and the stage written batch by batch from them."""
    payload, where = step_payload(step), str(source.resolve())
    summaries = [pickle.loads(row["summary"]) for row in in_part_order(ray, map_items(
        ray, work, summarize_slices, pool, fn_kwargs={"payload": payload, "source": where}), step.name, len(work))]
    totals = pl.concat([t for t, _ in summaries]).group_by("_group").agg(
        pl.col("rows").sum(), pl.col("weight").sum(), pl.col("meets").sum())
    weight = dict(zip(totals["_group"].to_list(), totals["weight"].to_list()))
    targets = {group: None if target is None else min(target, weight[group])             # at most all of it
               for group, target in step.targets(totals).items() if group in weight}
    bounds = bracket([p for _, p in summaries], targets)
    brackets = [pickle.loads(row["bracket"]) for row in in_part_order(ray, map_items(
        ray, work, bracket_slices, pool, fn_kwargs={"payload": payload, "source": where,
                                                   "bounds": pickle.dumps(bounds)}), step.name, len(work))]
    found = cutoffs([b for b, _ in brackets], [w for _, w in brackets], targets)
    return write_results(step.name, verdict_results(source, out, batch_size, lambda batch: step.threshold_verdicts(
        batch, found), step.threshold_stats(found)), stage, out, rejected, advance)
