"""The local engine: stream a stage's input through one step in batches, in one process.

Memory stays bounded by the batch size (plus what a step keeps, e.g. dedup keys): the input is read
from Parquet batch by batch, a thread ahead of the step, and outputs are appended to Parquet by a
writer thread as they come. Batches are
consecutive slices of the input, so a dataset-scope step's verdicts for a batch are the same slice
of its verdict frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

import polars as pl

from ..errors import InvariantError
from ..io.parquet_stream import streamed
from ..steps.base import Result, Step
from ..steps.decisions import ORDER, Decisions, apply_verdicts
from .background import prefetched
from .base import Engine, StageCounts
from .parquet_out import ParquetOut


class LocalEngine(Engine):
    name = "local"

    def run_step(self, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
                 batch_size: int, advance: Callable[[int], None] = lambda n: None) -> StageCounts:
        rows, batches = stage_batches(source, out, batch_size)
        results = step_results(step, pl.scan_parquet(source), rows, batches, batch_size)
        return write_results(step.name, results, stage, out, rejected, advance)


def stage_batches(source: Path, out: ParquetOut, batch_size: int) -> tuple[int, Iterator[pl.DataFrame]]:
    """The stage file's row count and its batches; `out` learns the columns (for an empty output)."""
    reader = streamed(source)
    out.empty_schema = pl.from_arrow(reader.schema_arrow.empty_table()).schema
    return reader.metadata.num_rows, prefetched(pl.from_arrow(b) for b in reader.iter_batches(batch_size=batch_size))


def write_results(step: str, results: Iterable[tuple[pl.DataFrame, Result]], stage: int, out: ParquetOut,
                  rejected: ParquetOut, advance: Callable[[int], None]) -> StageCounts:
    """Each batch's result written and counted, in order, with progress in input rows."""
    counts = StageCounts()
    for batch, result in results:
        counts.write(result, batch.height, stage, step, out, rejected)
        advance(batch.height)
    return counts


def run_frame(step: Step, frame: pl.DataFrame, batch_size: int = 50_000) -> list[Result]:
    """One step over an in-memory frame, batch by batch as in a run (for benchmarks and notebooks)."""
    batches = (frame.slice(offset, batch_size) for offset in range(0, frame.height, batch_size))
    return [result for _, result in step_results(step, frame.lazy(), frame.height, batches, batch_size)]


def step_results(step: Step, data: pl.LazyFrame, rows: int, batches: Iterable[pl.DataFrame],
                 batch_size: int) -> Iterator[tuple[pl.DataFrame, Result]]:
    """Each batch with its result: `apply` for batch steps; for dataset-scope steps, `decide` once
    over the whole input, then each batch's slice of the verdicts and the records derived from it."""
    if step.scope != "dataset":
        for batch in batches:
            yield batch, step.apply(batch)
        return
    yield from decided_results(step.name, step.decide(data.with_row_index(ORDER)), rows, batches, batch_size)


def decided_results(step: str, decisions: Decisions, rows: int, batches: Iterable[pl.DataFrame],
                    batch_size: int) -> Iterator[tuple[pl.DataFrame, Result]]:
    """A dataset-scope step's decisions applied to each batch: the batch's slice of the verdicts
    and the records derived from it (whoever computed the decisions, this process or a cluster)."""
    check_verdicts(step, decisions, rows)
    added = by_batch(decisions.added, batch_size)
    declined = by_batch(decisions.declined, batch_size)
    offset = 0
    for index, batch in enumerate(batches):
        ordered = batch.with_columns(pl.int_range(offset, offset + batch.height, dtype=pl.UInt64).alias(ORDER))
        result = apply_verdicts(ordered, decisions.verdicts.slice(offset, batch.height),
                                decisions.stats if index == 0 else {})
        yield batch, Result(kept=result.kept.drop(ORDER), rejected=result.rejected, added=added.get(index),
                            declined=declined.get(index), stats=result.stats)
        offset += batch.height


def check_verdicts(step: str, decisions: Decisions, rows: int) -> None:
    """A dataset-scope step answers for every input record, in input order."""
    got = decisions.verdicts
    if got.height != rows or not got[ORDER].cast(pl.UInt64).equals(pl.Series(ORDER, range(rows), dtype=pl.UInt64)):
        raise InvariantError(f"{step}: its decisions cover {got.height} records in some order; the stage "
                             f"input holds {rows} (one verdict per record, in input order, is required)")


def by_batch(frame: pl.DataFrame | None, batch_size: int) -> dict[int, pl.DataFrame]:
    """Rows that name a parent by `_order` (added records, declined attempts), grouped by the batch
    their parent is in, in the order the step made them and without the order column."""
    if frame is None or frame.height == 0:
        return {}
    parts = frame.with_columns((pl.col(ORDER) // batch_size).alias("_batch")).partition_by(
        "_batch", maintain_order=True, as_dict=True)
    return {int(key[0]): part.drop("_batch", ORDER) for key, part in parts.items()}
