"""Dataset-scope steps whose heavy part runs on the workers of a Ray cluster.

Signatures (`dedup.near`): a step that offers `signed_rows`, `sign` and `decide_signed` has its
MinHash signatures computed on the workers, slice by slice, and decides on the driver over the
signatures only (n × num_perm × 4 bytes), exactly as its own `decide` does after signing.

Keys (`dedup.exact`), by hash partitioning:

A step whose decisions fall within groups of equal keys (`dedup.exact`: a record is a copy of the
first record with its key) offers `group_keys(data)` (`_order`, id and key hash columns `_a`, `_b`
per record) and `group_verdicts(keys)` (the verdicts of the records it drops, given whole groups).
On Ray such a step runs in two passes over the stage's slices, both on the workers:

1. each worker keys its slice and writes its keys to one file per partition (`_a` modulo the
   partition count), in a temporary folder next to the stage file (shared storage);
2. each worker reads one partition's files, which hold every record of their keys, and returns
   the verdicts of the records dropped there.

The driver holds only those dropped records' verdicts, never a key per record, and applies them
batch by batch as the local engine does. Which copy survives is the same rule over `_order`, so
the result is the local engine's, byte for byte.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Callable, Iterator

import polars as pl

from ..steps.base import Result, Step
from ..steps.decisions import ORDER, apply_verdicts, keep_all
from .base import StageCounts
from .local import decided_results, stage_batches, write_results
from .parquet_out import ParquetOut, tmp_name
from .ray_workers import built_step, listed_slices, map_items, step_payload


def partitionable(step: Step) -> bool:
    return hasattr(step, "group_keys") and hasattr(step, "group_verdicts")


def signable(step: Step) -> bool:
    return all(hasattr(step, name) for name in ("signed_rows", "sign", "decide_signed"))


def key_slices(batch, payload: bytes, source: str, folder: str, partitions: int):
    """Pass 1: key each slice and write its keys, partitioned by `_a`, under `folder`."""
    import pyarrow as pa
    step = built_step(payload)
    for part, offset, rows in listed_slices(batch, source):
        keys = step.group_keys(rows.with_row_index(ORDER, offset=offset)).collect().with_columns((pl.col("_a") % partitions).alias("_p"))
        for (p,), group in keys.partition_by("_p", as_dict=True).items():
            target = Path(folder) / f"p{p}"
            target.mkdir(parents=True, exist_ok=True)
            group.drop("_p").write_parquet(target / f"s{part}.parquet")
    return pa.table({"done": [len(batch["part"])]})


def group_partitions(batch, payload: bytes, folder: str):
    """Pass 2: the verdicts of the records dropped within each partition."""
    import pyarrow as pa
    step = built_step(payload)
    blobs = []
    for p in batch["partition"].to_pylist():
        files = sorted((Path(folder) / f"p{p}").glob("*.parquet"))
        keys = pl.concat([pl.read_parquet(f) for f in files]) if files else None
        dropped = step.group_verdicts(keys) if keys is not None else None
        blobs.append(pickle.dumps(dropped))
    return pa.table({"dropped": pa.array(blobs, type=pa.large_binary())})


def run_partitioned(ray, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
                    batch_size: int, work: list[dict], pool: int,
                    advance: Callable[[int], None]) -> StageCounts:
    """Both passes on the workers, then the dropped records' verdicts applied batch by batch."""
    payload = step_payload(step)
    folder = tmp_name(out.path.with_name(out.path.name + ".keys"))   # removed by the runner if we die
    partitions = max(1, min(len(work), pool * 4))
    try:
        map_items(ray, work, key_slices, pool, fn_kwargs={
            "payload": payload, "source": str(source.resolve()), "folder": str(folder),
            "partitions": partitions}).materialize()
        groups = map_items(ray, [{"partition": p} for p in range(partitions)], group_partitions, pool,
                           fn_kwargs={"payload": payload, "folder": str(folder)})
        dropped = [pickle.loads(b) for t in groups.iter_batches(batch_size=None, batch_format="pyarrow")
                   for b in t["dropped"].to_pylist()]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    frames = [d for d in dropped if d is not None and d.height]
    drops = pl.concat(frames).sort(ORDER) if frames else None
    return write_results(step.name, dropped_results(source, drops, out, batch_size), stage, out, rejected, advance)


def dropped_results(source: Path, drops: pl.DataFrame | None, out: ParquetOut,
                    batch_size: int) -> Iterator[tuple[pl.DataFrame, Result]]:
    """The local engine's batch-by-batch application, with each batch's verdicts made from the
    records dropped in it (so no verdict per record is held for the whole stage)."""
    _, batches = stage_batches(source, out, batch_size)
    offset = 0
    for batch in batches:
        ordered = batch.with_columns(pl.int_range(offset, offset + batch.height, dtype=pl.UInt64).alias(ORDER))
        if drops is None:
            verdicts = keep_all(ordered)
        else:
            here = drops.filter(pl.col(ORDER).is_between(offset, offset + batch.height - 1)).rename({"id": "_did"})
            verdicts = ordered.select(ORDER, "id").join(here, on=ORDER, how="left", maintain_order="left").select(
                ORDER, pl.coalesce("_did", "id").alias("id"), "reason", "detail")
        result = apply_verdicts(ordered, verdicts, {})
        yield batch, Result(kept=result.kept.drop(ORDER), rejected=result.rejected)
        offset += batch.height


def sign_slices(batch, payload: bytes, source: str, folder: str):
    """Signatures of each slice's records (`dedup.near`'s MinHash), one file per slice."""
    import numpy as np
    import pyarrow as pa
    step = built_step(payload)
    for part, offset, rows in listed_slices(batch, source):
        sig, has = step.sign(step.signed_rows(rows.with_row_index(ORDER, offset=offset)).collect())
        np.savez(Path(folder) / f"s{part}.npz", sig=sig, has=has)
    return pa.table({"done": [len(batch["part"])]})


def run_signed(ray, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
               batch_size: int, work: list[dict], pool: int, advance: Callable[[int], None]) -> StageCounts:
    """The signatures (the costly part: shingling and MinHash of every text) on the workers; the
    bands, components and verdicts on the driver over the signatures, as the local engine does."""
    import numpy as np
    folder = tmp_name(out.path.with_name(out.path.name + ".signatures"))   # removed by the runner if we die
    folder.mkdir(parents=True)
    try:
        map_items(ray, work, sign_slices, pool, fn_kwargs={
            "payload": step_payload(step), "source": str(source.resolve()), "folder": str(folder)}).materialize()
        loaded = [np.load(folder / f"s{w['part']}.npz") for w in work]
        sig = np.concatenate([f["sig"] for f in loaded])
        has = np.concatenate([f["has"] for f in loaded])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    frame = step.signed_rows(pl.scan_parquet(source).with_row_index(ORDER), with_text=False).collect()
    decisions = step.decide_signed(frame, sig, has)
    rows, batches = stage_batches(source, out, batch_size)
    return write_results(step.name, decided_results(step.name, decisions, rows, batches, batch_size), stage, out,
                         rejected, advance)
