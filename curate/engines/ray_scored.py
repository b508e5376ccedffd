"""Dataset-scope steps that score each record with a model and then decide over all the scores
(`score.ifd`, `tag.context_dependency`, `select.preselect`; `steps/common/chunked_scoring.py`)
on a Ray cluster.

The workers score the step's chunks of the stage file: an actor pool whose actors load the model
once each (on a GPU where there is one) reads each chunk from shared storage and sends back its
score columns and stats. The driver joins them in chunk order and runs the step's own decision
over every score (a share of the highest tagged, a median, a top share), as locally. Work that
must see every record before any is scored (`select.preselect` trains its classifier) runs on
the driver first; the workers read what it made from the run folder (shared storage). The
chunks are the local engine's, so the scores and the stage file are the same on both engines.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import polars as pl

from ..steps.base import Step
from ..steps.common.chunked_scoring import merged_stats
from ..steps.decisions import ORDER
from .base import StageCounts
from .parquet_out import ParquetOut
from .ray_passes import gpus_per_actor, in_part_order
from .ray_workers import actor_for, built_step, listed_slices, map_items, step_payload


def scores_in_chunks(step: Step) -> bool:
    return all(hasattr(step, name) for name in ("chunks", "score_columns", "scored", "use_computed"))


def score_chunks(batch, payload: bytes, source: str):
    """Each listed chunk's score columns and stats."""
    import pyarrow as pa
    step = built_step(payload)
    blobs = []
    for _, offset, rows in listed_slices(batch, source):
        chunk = step.score_columns(rows.with_row_index(ORDER, offset=offset)).collect()
        blobs.append(pickle.dumps(step.scored(chunk)))
    return pa.table({"part": batch["part"], "scored": pa.array(blobs, type=pa.large_binary())})


def run_scored(ray, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
               batch_size: int, work: list[dict], pool: int, advance: Callable[[int], None]) -> StageCounts:
    """The step's preparation on the driver (a classifier trained), the chunks scored on the
    workers, then the step's own `decide` on the driver with the scores."""
    from .local import LocalEngine
    prepared = step.prepare_scoring(pl.scan_parquet(source).with_row_index(ORDER))
    n = sum(w["rows"] for w in work)
    chunks = [{"part": i, "offset": offset, "rows": rows} for i, (offset, rows) in enumerate(step.chunks(n))]
    results = map_items(ray, chunks, actor_for(step_payload(step), score_chunks, source=str(source.resolve())),
                        min(pool, len(chunks)), num_gpus=gpus_per_actor(ray, step))
    parts = [pickle.loads(row["scored"]) for row in in_part_order(ray, results, step.name, len(chunks))]
    step.use_computed(pl.concat([p for p, _ in parts], how="vertical"),
                      merged_stats([prepared] + [s for _, s in parts]))
    return LocalEngine().run_step(step, source, out, rejected, stage, batch_size, advance)
