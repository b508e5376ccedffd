"""Dataset-scope steps whose heavy part runs on the workers of a Ray cluster.

Signatures and bands (`dedup.near`), in two passes on the workers: each worker signs its slices,
saves the signatures (one file per slice) and writes its LSH bucket entries (band, band key, row)
to one file per partition of the keys; then each worker takes whole partitions, which hold whole
buckets, and returns the pairs it verified against the saved signatures. The driver holds the
edge list of verified pairs, the records' ids and order, and finds the connected components
with the local engine's code, so the groups and the survivors are the same.

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
from ..steps.common.signature_file import SliceSignatures
from ..steps.decisions import ORDER, apply_verdicts, keep_all
from .base import StageCounts
from .local import decided_results, stage_batches, write_results
from .parquet_out import ParquetOut, tmp_name
from .ray_passes import unpickled
from .ray_workers import built_step, listed_slices, map_items, step_payload


def partitionable(step: Step) -> bool:
    return hasattr(step, "group_keys") and hasattr(step, "group_verdicts")


def signable(step: Step) -> bool:
    return all(hasattr(step, name) for name in ("signed_rows", "sign", "bucket_entries", "linked_pairs", "groups",
                                                "decide_linked"))


def write_partitions(frame: pl.DataFrame, key: str, partitions: int, folder: str, part: int) -> None:
    """A slice's rows, spread by `key` modulo `partitions` into one file per partition
    (`folder/p<partition>/s<part>.parquet`), so that equal keys meet in one partition."""
    for (p,), group in frame.with_columns((pl.col(key) % partitions).alias("_p")).partition_by(
            "_p", as_dict=True).items():
        target = Path(folder) / f"p{p}"
        target.mkdir(parents=True, exist_ok=True)
        group.drop("_p").write_parquet(target / f"s{part}.parquet")


def read_partition(folder: str, p: int) -> pl.DataFrame | None:
    """Every slice's rows of one partition, or None when no slice had any."""
    files = sorted((Path(folder) / f"p{p}").glob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else None


def key_slices(batch, payload: bytes, source: str, folder: str, partitions: int):
    """Pass 1: key each slice and write its keys, partitioned by `_a`, under `folder`."""
    import pyarrow as pa
    step = built_step(payload)
    for part, offset, rows in listed_slices(batch, source):
        write_partitions(step.group_keys(rows.with_row_index(ORDER, offset=offset)).collect(), "_a", partitions,
                         folder, part)
    return pa.table({"done": [len(batch["part"])]})


def group_partitions(batch, payload: bytes, folder: str):
    """Pass 2: the verdicts of the records dropped within each partition."""
    import pyarrow as pa
    step = built_step(payload)
    blobs = []
    for p in batch["partition"].to_pylist():
        keys = read_partition(folder, p)
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
        dropped = unpickled(groups, "dropped")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    frames = [d for d in dropped if d is not None and d.height]
    drops = pl.concat(frames).sort(ORDER) if frames else None
    return write_results(step.name, dropped_results(source, drops, out, batch_size), stage, out, rejected, advance)


def dropped_results(source: Path, drops: pl.DataFrame | None, out: ParquetOut, batch_size: int,
                    stats: dict | None = None) -> Iterator[tuple[pl.DataFrame, Result]]:
    """The local engine's batch-by-batch application, with each batch's verdicts made from the
    records dropped in it (so no verdict per record is held for the whole stage)."""
    def verdicts_of(ordered: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
        if drops is None:
            return keep_all(ordered), {}
        first, last = ordered[ORDER][0], ordered[ORDER][-1]
        here = drops.filter(pl.col(ORDER).is_between(first, last)).rename({"id": "_did"})
        return ordered.select(ORDER, "id").join(here, on=ORDER, how="left", maintain_order="left").select(
            ORDER, pl.coalesce("_did", "id").alias("id"), "reason", "detail"), {}
    return verdict_results(source, out, batch_size, verdicts_of, stats)


def verdict_results(source: Path, out: ParquetOut, batch_size: int,
                    verdicts_of: Callable[[pl.DataFrame], tuple[pl.DataFrame, dict]],
                    stats: dict | None = None) -> Iterator[tuple[pl.DataFrame, Result]]:
    """The local engine's batch-by-batch application of the verdicts (and counts, which add up
    over batches) that `verdicts_of` makes for each batch, given with `_order`; the step's
    `stats` go with the first batch, as the local engine's do."""
    _, batches = stage_batches(source, out, batch_size)
    offset = 0
    for index, batch in enumerate(batches):
        ordered = batch.with_columns(pl.int_range(offset, offset + batch.height, dtype=pl.UInt64).alias(ORDER))
        verdicts, counts = verdicts_of(ordered)
        result = apply_verdicts(ordered, verdicts, {**((stats or {}) if index == 0 else {}), **counts})
        yield batch, Result(kept=result.kept.drop(ORDER), rejected=result.rejected, stats=result.stats)
        offset += batch.height


def sign_slices(batch, payload: bytes, source: str, folder: str, partitions: int):
    """Near dedup, pass 1: each slice's MinHash signatures, saved one file per slice (read back to
    verify pairs), and its LSH bucket entries, written by band key to one file per partition."""
    import numpy as np
    import pyarrow as pa
    step = built_step(payload)
    parts, empty = [], []
    for part, offset, rows in listed_slices(batch, source):
        sig, has = step.sign(step.signed_rows(rows.with_row_index(ORDER, offset=offset)).collect())
        np.save(SliceSignatures.file(Path(folder) / "signatures", part), sig)
        write_partitions(step.bucket_entries(sig, has, offset), "_k", partitions, folder, part)
        parts.append(part)
        empty.append(int((~has).sum()))
    return pa.table({"part": parts, "no_shingles": empty})


def pair_partitions(batch, payload: bytes, folder: str, parts: list[int], starts: list[int]):
    """Near dedup, pass 2: the verified pairs within each partition, which holds whole buckets."""
    import pyarrow as pa
    step = built_step(payload)
    signatures = SliceSignatures(Path(folder) / "signatures", parts, starts)
    blobs = []
    for p in batch["partition"].to_pylist():
        entries = read_partition(folder, p)
        blobs.append(pickle.dumps(step.linked_pairs(entries, signatures.similarity) if entries is not None else None))
    return pa.table({"pairs": pa.array(blobs, type=pa.large_binary())})


def run_signed(ray, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
               batch_size: int, work: list[dict], pool: int, advance: Callable[[int], None]) -> StageCounts:
    """Shingling, MinHash, LSH buckets and pair verification on the workers; the driver holds the
    verified pairs (an edge list) and finds the connected components, as the local engine does."""
    payload = step_payload(step)
    folder = tmp_name(out.path.with_name(out.path.name + ".signatures"))   # removed by the runner if we die
    (folder / "signatures").mkdir(parents=True)
    partitions = max(1, min(len(work), pool * 4))
    parts, starts = [w["part"] for w in work], [w["offset"] for w in work]
    frame = step.signed_rows(pl.scan_parquet(source).with_row_index(ORDER), with_text=False).collect()
    try:
        signed = map_items(ray, work, sign_slices, pool, fn_kwargs={
            "payload": payload, "source": str(source.resolve()), "folder": str(folder),
            "partitions": partitions}).materialize()
        no_shingles = sum(sum(t["no_shingles"].to_pylist())
                          for t in signed.iter_batches(batch_size=None, batch_format="pyarrow"))
        linked = map_items(ray, [{"partition": p} for p in range(partitions)], pair_partitions, pool, fn_kwargs={
            "payload": payload, "folder": str(folder), "parts": parts, "starts": starts})
        pairs = unpickled(linked, "pairs")
        pairs = [p for p in pairs if p is not None]
        found = step.groups(frame.height, [p[0] for p in pairs], [p[1] for p in pairs],
                            sum(p[2] for p in pairs)) if frame.height >= 2 else None
        signatures = SliceSignatures(folder / "signatures", parts, starts)
        decisions = step.decide_linked(frame, found, signatures.similarity, no_shingles)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows, batches = stage_batches(source, out, batch_size)
    return write_results(step.name, decided_results(step.name, decisions, rows, batches, batch_size), stage, out,
                         rejected, advance)
