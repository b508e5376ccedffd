"""`dedup.semantic` on a Ray cluster: the embeddings, the cluster assignment and the work within
each cluster run on the workers; the driver fits k-means on a sample and writes the results.

Three passes on the workers, with the driver's part between the first two:

1. embed: workers (actors that load the model once, on a GPU where there is one) embed chunks
   of the step's chunk size and save each chunk's vectors (`.npy`) beside the stage file;
   the driver then reads the vectors of the step's seeded sample (`fit_sample`), fits k-means
   on them and saves the centroids;
2. place: each worker assigns its chunks' records to the nearest centroid, works out their
   priority, and writes them with their vectors to one file per partition of the cluster ids;
3. compare: each worker takes whole partitions, so whole clusters, and returns the records
   dropped there, each with the kept record it repeats.

The driver holds the sample's vectors, the centroids and the dropped records, never a vector per
record. The chunks, the sample and the rules are the local engine's, and every matrix product
runs on one BLAS thread on both engines, so the result is the local engine's, byte for byte.
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
from .parquet_out import ParquetOut, tmp_name
from .ray_passes import gpus_per_actor, in_part_order
from .ray_partitioned import dropped_results, read_partition, write_partitions
from .ray_workers import actor_for, built_step, listed_slices, map_items, step_payload

PARTITION_ROWS = 50_000     # records per partition of the cluster ids (a worker's memory in pass 3)


def clusterable(step: Step) -> bool:
    return all(hasattr(step, name) for name in ("chunks", "chunk_columns", "embedded", "clusters_for", "fit_sample",
                                                "fit", "placed", "dropped", "ledger", "stats"))


def vector_file(folder: str | Path, part: int) -> Path:
    return Path(folder) / "vectors" / f"c{part}.npy"


def chunk_rows(step: Step, rows: pl.LazyFrame, offset: int) -> pl.DataFrame:
    return step.chunk_columns(rows.with_row_index(ORDER, offset=offset)).collect()


def embed_chunks(batch, payload: bytes, source: str, folder: str):
    """Pass 1: each listed chunk's vectors, saved; its embedding stats come back."""
    import pyarrow as pa
    step = built_step(payload)
    parts, blobs = [], []
    for part, offset, rows in listed_slices(batch, source):
        vectors, stats = step.embedded(chunk_rows(step, rows, offset))
        np.save(vector_file(folder, part), vectors)
        parts.append(part)
        blobs.append(pickle.dumps(stats))
    return pa.table({"part": parts, "stats": pa.array(blobs, type=pa.large_binary())})


def place_chunks(batch, payload: bytes, source: str, folder: str, partitions: int):
    """Pass 2: each listed chunk's records with cluster, priority and vector, by cluster partition."""
    import pyarrow as pa
    step = built_step(payload)
    centroids = np.load(Path(folder) / "centroids.npy")
    for part, offset, rows in listed_slices(batch, source):
        vectors = np.load(vector_file(folder, part))
        placed = step.placed(chunk_rows(step, rows, offset), vectors, centroids)
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


def sample_vectors(folder: Path, chunks: list[dict], sample: np.ndarray) -> np.ndarray:
    """The vectors of the sampled records (positions, ascending), read from the chunks' files."""
    out = []
    for chunk in chunks:
        start, end = np.searchsorted(sample, [chunk["offset"], chunk["offset"] + chunk["rows"]])
        if end > start:
            out.append(np.load(vector_file(folder, chunk["part"]), mmap_mode="r")[sample[start:end] - chunk["offset"]])
    return np.concatenate(out)


def run_clustered(ray, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
                  batch_size: int, work: list[dict], pool: int, advance: Callable[[int], None]) -> StageCounts:
    """The three passes, the fit between them, and the dropped records applied batch by batch."""
    payload, where = step_payload(step), str(source.resolve())
    n = sum(w["rows"] for w in work)
    chunks = [{"part": i, "offset": offset, "rows": rows} for i, (offset, rows) in enumerate(step.chunks(n))]
    k = step.clusters_for(n)
    partitions = max(1, min(k, max(pool * 4, math.ceil(n / PARTITION_ROWS))))
    folder = tmp_name(out.path.with_name(out.path.name + ".vectors"))    # removed by the runner if we die
    (folder / "vectors").mkdir(parents=True)
    try:
        embedded = map_items(ray, chunks, actor_for(payload, embed_chunks, source=where, folder=str(folder)),
                             min(pool, len(chunks)), num_gpus=gpus_per_actor(ray, step))
        stats = [pickle.loads(row["stats"]) for row in in_part_order(ray, embedded, step.name, len(chunks))]
        np.save(folder / "centroids.npy", step.fit(sample_vectors(folder, chunks, step.fit_sample(n, k)), k))
        map_items(ray, chunks, place_chunks, min(pool, len(chunks)), fn_kwargs={
            "payload": payload, "source": where, "folder": str(folder), "partitions": partitions}).materialize()
        compared = map_items(ray, [{"partition": p} for p in range(partitions)], compare_partitions,
                             min(pool, partitions), fn_kwargs={"payload": payload, "folder": str(folder)})
        found = [pickle.loads(b) for t in compared.iter_batches(batch_size=None, batch_format="pyarrow")
                 for b in t["dropped"].to_pylist()]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    frames = [d for d in found if d is not None and d.height]
    drops = pl.concat(frames) if frames else None
    ledger = None
    if drops is not None:
        named = pl.concat([drops[ORDER], drops["_kept"]]).unique().implode()
        names = pl.scan_parquet(source).with_row_index(ORDER).filter(pl.col(ORDER).cast(pl.UInt64).is_in(named)).select(
            ORDER, "id", "origin").collect()
        ledger = step.ledger(drops, names)
    summary = step.stats(stats, k, 0 if drops is None else drops.height)
    return write_results(step.name, dropped_results(source, ledger, out, batch_size, summary), stage, out,
                         rejected, advance)
