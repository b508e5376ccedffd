"""`dedup.semantic` on a Ray cluster: the embeddings, the cluster assignment and the work within
each cluster run on the workers; the driver fits k-means on a sample and writes the results.

Three passes on the workers, with the driver's part between the first two:

1. embed: the embed pass of `ray_embedded.py` (actors that load the model once, on a GPU where
   there is one; the vectors saved beside the stage file; copies of a text found by partitions
   of the text keys); the driver then reads the vectors of the step's seeded sample
   (`fit_sample`), fits k-means on them and saves the centroids;
2. place: each worker adds its chunks' vectors to the embedding cache (only now, when every chunk
   is embedded, as locally), assigns the records to the nearest centroid, works out their
   priority, and writes them with their vectors to one file per partition of the cluster ids;
3. compare: each worker takes whole partitions, so whole clusters, and returns the records
   dropped there, each with the kept record it repeats.

The driver holds the sample's vectors, the centroids, the copies (16 bytes each) and the dropped
records, never a vector or a key per record. The chunks, the sample and the rules are the local
engine's, and every matrix product runs on one BLAS thread on both engines, so the result is the
local engine's, byte for byte.
"""

from __future__ import annotations

import math
import pickle
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from ..steps.base import Step
from ..steps.common.embedding import vector_matrix
from ..steps.decisions import ORDER
from .base import StageCounts
from .local import write_results
from .parquet_out import ParquetOut
from .ray_embedded import ChunkVectors, chunk_rows, embed_on_workers, embeds_records, vectors_folder
from .ray_passes import unpickled
from .ray_partitioned import dropped_results, read_partition, write_partitions
from .ray_workers import built_step, listed_slices, map_items, step_payload

PARTITION_ROWS = 50_000     # records per partition of the cluster ids (a worker's memory in pass 3)


def clusterable(step: Step) -> bool:
    return embeds_records(step) and all(hasattr(step, name) for name in ("clusters_for", "fit_sample", "fit",
                                                                        "placed", "dropped", "ledger", "stats"))


def place_chunks(batch, payload: bytes, source: str, folder: str, partitions: int, offsets: list[int]):
    """Pass 2: each listed chunk's records with cluster, priority and vector, by cluster partition."""
    import pyarrow as pa
    step = built_step(payload)
    centroids = np.load(Path(folder) / "centroids.npy")
    saved = ChunkVectors(folder, offsets)
    for part, offset, rows in listed_slices(batch, source):
        chunk = chunk_rows(step, rows, offset)
        vectors = saved.unified(chunk[ORDER].cast(pl.Int64).to_numpy())
        step.remember(chunk, vectors)                   # every chunk is embedded by now: see semantic.py
        placed = step.placed(chunk, vectors, centroids)
        write_partitions(placed.with_columns(pl.Series("_vector", vectors)), "_cluster", partitions, folder, part)
    return pa.table({"done": [len(batch["part"])]})


def compare_partitions(batch, payload: bytes, folder: str):
    """Pass 3: the records dropped within each listed partition's clusters."""
    import pyarrow as pa
    step = built_step(payload)
    blobs = []
    for p in batch["partition"].to_pylist():
        rows = read_partition(folder, p)
        blobs.append(pickle.dumps(None if rows is None else step.dropped(
            rows[ORDER].to_numpy(), rows["_cluster"].to_numpy(), rows["_priority"].to_numpy(),
            vector_matrix(rows["_vector"]))))
    return pa.table({"dropped": pa.array(blobs, type=pa.large_binary())})


def run_clustered(ray, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
                  batch_size: int, work: list[dict], pool: int, advance: Callable[[int], None]) -> StageCounts:
    """The three passes, the fit between them, and the dropped records applied batch by batch."""
    payload, where = step_payload(step), str(source.resolve())
    n = sum(w["rows"] for w in work)
    k = step.clusters_for(n)
    partitions = max(1, min(k, max(pool * 4, math.ceil(n / PARTITION_ROWS))))   # of the cluster ids
    folder = vectors_folder(out)
    try:
        chunks, stats = embed_on_workers(ray, step, source, folder, n, pool)
        offsets = [c["offset"] for c in chunks]
        sample = ChunkVectors(folder, offsets).unified(step.fit_sample(n, k))
        np.save(folder / "centroids.npy", step.fit(sample, k))
        map_items(ray, chunks, place_chunks, min(pool, len(chunks)), fn_kwargs={
            "payload": payload, "source": where, "folder": str(folder), "partitions": partitions,
            "offsets": offsets}).materialize()
        compared = map_items(ray, [{"partition": p} for p in range(partitions)], compare_partitions,
                             min(pool, partitions), fn_kwargs={"payload": payload, "folder": str(folder)})
        found = unpickled(compared, "dropped")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    frames = [d for d in found if d is not None and d.height]
    drops = pl.concat(frames) if frames else None
    ledger = None
    if drops is not None:
        named = pl.concat([drops[ORDER], drops["_kept"]]).unique().implode()
        names = pl.scan_parquet(source).with_row_index(ORDER).filter(
            pl.col(ORDER).cast(pl.UInt64).is_in(named)).select(ORDER, "id", "origin").collect()
        ledger = step.ledger(drops, names)
    summary = step.stats(stats, k, 0 if drops is None else drops.height)
    return write_results(step.name, dropped_results(source, ledger, out, batch_size, summary), stage, out,
                         rejected, advance)
