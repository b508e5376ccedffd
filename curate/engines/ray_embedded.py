"""Embedding a stage's records on the Ray workers, by the rules of
`steps/common/chunked_embedding.py`, for the dataset-scope steps that embed every record.

The embed pass: workers (actors that load the model once, on a GPU where there is one) embed
the step's chunks, save each chunk's vectors (`.npy`) beside the stage file, and write its
records' text keys to one file per partition of the keys; then each worker takes whole
partitions and returns the records whose text occurred earlier (a copy takes its first
occurrence's vector, as locally). Once every chunk is embedded, the workers add their chunks'
vectors to the embedding cache (`remember`), as the local engine does after its last chunk.

`dedup.semantic` goes on from there on the workers (`ray_clustered.py`). `tag.cluster` and
`select.diverse` need every vector at once (k-means over all of them, farthest-first over all of
them): the driver reads the saved vectors and decides as locally (`run_embedded`), with the
vectors handed to the step instead of computed by it. The driver then holds 4 bytes per record
and dimension (1.5 GB for 1M records at 384), as locally, but the embedding, which is most of the
time, runs on the workers.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from ..steps.base import Step
from ..steps.common.chunked_scoring import merged_stats
from ..steps.decisions import ORDER
from .base import StageCounts
from .parquet_out import ParquetOut, tmp_name
from .ray_passes import gpus_per_actor, in_part_order, unpickled
from .ray_partitioned import read_partition, write_partitions
from .ray_workers import actor_for, built_step, listed_slices, map_items, step_payload


def embeds_records(step: Step) -> bool:
    return all(hasattr(step, name) for name in ("chunks", "chunk_columns", "embedded", "text_keys", "copies",
                                                "remember", "use_computed", "wants_vectors"))


def vector_file(folder: str | Path, part: int) -> Path:
    return Path(folder) / "vectors" / f"c{part}.npy"


def chunk_rows(step: Step, rows: pl.LazyFrame, offset: int) -> pl.DataFrame:
    return step.chunk_columns(rows.with_row_index(ORDER, offset=offset)).collect()


def embed_chunks(batch, payload: bytes, source: str, folder: str, partitions: int):
    """The embed pass: each listed chunk's vectors, saved, and its text keys, by key partition; its
    embedding stats come back."""
    import pyarrow as pa
    step = built_step(payload)
    parts, blobs = [], []
    for part, offset, rows in listed_slices(batch, source):
        chunk = chunk_rows(step, rows, offset)
        vectors, stats = step.embedded(chunk)
        np.save(vector_file(folder, part), vectors)
        write_partitions(step.text_keys(chunk), "_a", partitions, Path(folder) / "texts", part)
        parts.append(part)
        blobs.append(pickle.dumps(stats))
    return pa.table({"part": parts, "stats": pa.array(blobs, type=pa.large_binary())})


def copies_in_partitions(batch, payload: bytes, folder: str):
    """After it: the records whose text occurred earlier, within each listed text-key partition."""
    import pyarrow as pa
    step = built_step(payload)
    blobs = []
    for p in batch["partition"].to_pylist():
        keys = read_partition(str(Path(folder) / "texts"), p)
        blobs.append(pickle.dumps(None if keys is None else step.copies(keys)))
    return pa.table({"copies": pa.array(blobs, type=pa.large_binary())})


class ChunkVectors:
    """The saved vectors of every chunk, with copies of a text reading their first occurrence's."""

    def __init__(self, folder: str | Path, offsets: list[int]):
        self.folder, self.offsets = Path(folder), np.asarray(offsets)
        copies = pl.read_parquet(self.folder / "copies.parquet")
        self.copies = copies.sort(ORDER)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The vectors of records at `positions` (ascending), as saved."""
        chunk = np.searchsorted(self.offsets, positions, side="right") - 1
        out = []
        for c in np.unique(chunk):
            here = positions[chunk == c]
            out.append(np.load(vector_file(self.folder, int(c)), mmap_mode="r")[here - self.offsets[c]])
        return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)

    def unified(self, positions: np.ndarray) -> np.ndarray:
        """The vectors of records at `positions` (ascending), each copy's replaced by its first's."""
        vectors = np.array(self.rows(positions))
        found = self.copies.filter(pl.col(ORDER).is_in(pl.Series(positions, dtype=pl.UInt64).implode()))
        if found.height:
            at = np.searchsorted(positions, found[ORDER].to_numpy())
            firsts = found["_first"].to_numpy().astype(np.int64)
            order = np.argsort(firsts, kind="stable")
            vectors[at[order]] = self.rows(firsts[order])
        return vectors


def remember_chunks(batch, payload: bytes, source: str, folder: str, offsets: list[int]):
    """After the embed pass: each listed chunk's vectors (copies unified) added to the cache."""
    import pyarrow as pa
    step = built_step(payload)
    saved = ChunkVectors(folder, offsets)
    for part, offset, rows in listed_slices(batch, source):
        chunk = chunk_rows(step, rows, offset)
        step.remember(chunk, saved.unified(chunk[ORDER].cast(pl.Int64).to_numpy()))
    return pa.table({"done": [len(batch["part"])]})


def vectors_folder(out: ParquetOut) -> Path:
    """A fresh folder beside the stage's output for the saved vectors (removed by the runner if
    the driver dies before removing it)."""
    folder = tmp_name(out.path.with_name(out.path.name + ".vectors"))
    (folder / "vectors").mkdir(parents=True)
    return folder


def embed_on_workers(ray, step: Step, source: Path, folder: Path, n: int, pool: int) -> tuple[list[dict], dict]:
    """The embed pass and the copies over `n` records: the chunks (part, offset, rows) and the
    embedding stats added up. The vectors are in `folder`, the copies in `folder/copies.parquet`."""
    payload, where = step_payload(step), str(source.resolve())
    chunks = [{"part": i, "offset": offset, "rows": rows} for i, (offset, rows) in enumerate(step.chunks(n))]
    key_partitions = pool * 4                           # of the text keys (24 bytes a record)
    embedded = map_items(ray, chunks, actor_for(payload, embed_chunks, source=where, folder=str(folder),
                                                partitions=key_partitions),
                         min(pool, len(chunks)), num_gpus=gpus_per_actor(ray, step))
    stats = [pickle.loads(row["stats"]) for row in in_part_order(ray, embedded, step.name, len(chunks))]
    copied = map_items(ray, [{"partition": p} for p in range(key_partitions)], copies_in_partitions,
                       pool, fn_kwargs={"payload": payload, "folder": str(folder)})
    copies = unpickled(copied, "copies")
    pl.concat([c for c in copies if c is not None] or [pl.DataFrame(
        schema={ORDER: pl.UInt64, "_first": pl.UInt64})]).write_parquet(folder / "copies.parquet")
    return chunks, merged_stats(stats)


def run_embedded(ray, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
                 batch_size: int, work: list[dict], pool: int, advance: Callable[[int], None]) -> StageCounts:
    """The embed pass and the cache on the workers, then the step's own `decide` on the driver
    with those vectors."""
    from .local import LocalEngine
    n = sum(w["rows"] for w in work)
    folder = vectors_folder(out)
    try:
        chunks, stats = embed_on_workers(ray, step, source, folder, n, pool)
        offsets = [c["offset"] for c in chunks]
        map_items(ray, chunks, remember_chunks, min(pool, len(chunks)), fn_kwargs={
            "payload": step_payload(step), "source": str(source.resolve()), "folder": str(folder),
            "offsets": offsets}).materialize()
        step.use_computed(ChunkVectors(folder, offsets).unified(np.arange(n)), stats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return LocalEngine().run_step(step, source, out, rejected, stage, batch_size, advance)
