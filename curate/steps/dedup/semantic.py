"""`dedup.semantic`: SemDeDup (Abbas et al., 2023) — drop records whose meaning repeats another's.

The work comes in four parts, each its own function, so that the Ray engine can run them where
the data is (`engines/ray_clustered.py`) and reach the same result as the local engine:

1. embed the records by `ChunkedEmbedding`'s rules (fixed chunks, the cache as the stage found it,
   copies of a text sharing its first occurrence's vector), so the vectors are the same everywhere;
2. fit spherical k-means on a seeded sample of the records (`fit_fraction`; at least
   `FIT_PER_CLUSTER` records per cluster), chosen from the record count and the seed alone;
3. assign every record to its nearest centroid, chunk by chunk;
4. within each cluster, in priority order, drop the records too similar to a kept one.

The matrix products of 3 and 4 run BLAS on one thread: how a product is split over threads
changes its last bits, and a Ray worker has one thread. The local engine runs clusters side by
side instead.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, Optional

import numpy as np
import polars as pl
from pydantic import Field

from ..base import Step, register
from ..common.chunked_embedding import ChunkedEmbedding
from ..common.embedding import EmbeddingConfig
from ..decisions import ORDER, Decisions, verdicts

BLOCK = 2048
CLUSTER_SIZE = 4000  # records per k-means cluster by default: see default_clusters
FIT_PER_CLUSTER = 256   # below this many records per cluster, faiss warns that the fit is poor


def default_clusters(n: int) -> int:
    """k so that clusters hold ~4,000 records on average. Duplicate pairs split across clusters are
    never compared, and larger clusters split fewer of them: on 100k real records at cosine 0.95,
    k = √n (316) compared 74% of the pairs above the threshold, k = n/4000 (25) 99.4%
    (benchmarks/semdedup.py). The work per record stays constant, so the cost grows linearly."""
    return max(1, math.ceil(n / CLUSTER_SIZE))


def fit_rows(n: int, k: int, fraction: float, seed: int) -> np.ndarray:
    """The positions of the records k-means is fitted on, in input order: a uniform sample of
    `fraction` of them drawn with `seed`, but at least `FIT_PER_CLUSTER` per cluster (or all)."""
    m = min(n, max(math.ceil(fraction * n), FIT_PER_CLUSTER * k))
    if m == n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, m, replace=False))


def one_blas_thread():
    """A context in which matrix products run on one thread, so their bits do not depend on it."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(1, user_api="blas")


def nearest_centroids(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centroid (the first on a tie) and its cosine to it (unit vectors)."""
    sims = vectors @ centroids.T
    assign = sims.argmax(axis=1)
    return assign.astype(np.int64), sims[np.arange(len(vectors)), assign].astype(np.float32)


def cluster_duplicates(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows of `x` in priority order (unit vectors): is each row within `threshold` cosine of a
    higher-priority row, which one is the most similar, and how similar. Exactly the reference rule
    (upper triangle of the similarity matrix, max over each column), in column blocks to bound memory."""
    m = len(x)
    removed = np.zeros(m, dtype=bool)
    twin = np.full(m, -1, dtype=np.int64)
    best = np.zeros(m, dtype=np.float32)
    for c0 in range(1, m, BLOCK):
        c1 = min(m, c0 + BLOCK)
        sims = x[:c1] @ x[c0:c1].T                       # (c1, block): rows i, columns j
        rows = np.arange(c1)[:, None]
        cols = np.arange(c0, c1)[None, :]
        sims[rows >= cols] = -np.inf                      # only higher-priority rows (i < j) count
        arg = sims.argmax(axis=0)
        top = sims[arg, np.arange(c1 - c0)]
        best[c0:c1] = top
        twin[c0:c1] = arg
        removed[c0:c1] = top > threshold
    return removed, twin, best


def drops_in_clusters(orders: np.ndarray, clusters: np.ndarray, priority: np.ndarray, vectors: np.ndarray,
                      threshold: float, threads: int = 1) -> pl.DataFrame:
    """The records dropped within each cluster: (`_order`, `_kept`: the `_order` of the kept
    record it repeats, `_sim`: their cosine). Rows are records (their input position `orders`,
    cluster, priority (lower is kept first; ties go to input order) and unit vector), in any order
    and any subset of whole clusters, so the Ray engine can give each worker some clusters."""
    order = np.lexsort((orders, priority, clusters))
    members = np.split(order, np.flatnonzero(np.diff(clusters[order])) + 1)
    with one_blas_thread(), ThreadPoolExecutor(max(1, threads)) as pool:
        found = list(pool.map(lambda rows: cluster_duplicates(vectors[rows], threshold), members))
    dropped, kept, similarity = [], [], []
    for rows, (gone, twin, best) in zip(members, found):
        for j in np.flatnonzero(gone):
            t = twin[j]
            while gone[t]:                                  # follow to the kept record of the group
                t = twin[t]
            dropped.append(orders[rows[j]])
            kept.append(orders[rows[t]])
            similarity.append(best[j])
    return pl.DataFrame({ORDER: pl.Series(dropped, dtype=pl.UInt64), "_kept": pl.Series(kept, dtype=pl.UInt64),
                         "_sim": pl.Series(similarity, dtype=pl.Float32)})


@register("dedup.semantic")
class SemanticDedup(ChunkedEmbedding, Step):
    """SemDeDup: embed records, cluster them with spherical k-means (one cluster per ~4,000 records
    unless `clusters` is given; fitted on a seeded `fit_fraction` of the records, at least 256 per
    cluster, then every record goes to its nearest centroid), and within each cluster drop
    every record whose cosine similarity to a higher-priority record exceeds `threshold` (the
    reference rule). Priority (`keep`): `farthest_from_centroid` (the paper's default: keeps the
    least prototypical record), `closest_to_centroid`, `longest_response`, `highest_score` (of
    `score_column`), or `first` (input order; ties of the other rules also go to input order).
    Copies of a text share one vector, so they tie. Dropped records go to the ledger as
    `semantic_duplicate` with the similarity and the id and origin of the kept record they repeat."""

    scope = "dataset"

    files = ("embeddings",)

    class Config(EmbeddingConfig):
        threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity above which records are duplicates")
        clusters: Optional[int] = Field(None, ge=1, description="k-means clusters (default: one per ~4,000 records)")
        fit_fraction: float = Field(0.1, gt=0, le=1, description="share of the records k-means is fitted on "
                                    "(a seeded sample, at least 256 per cluster); all are then assigned")
        keep: Literal["farthest_from_centroid", "closest_to_centroid", "longest_response", "highest_score",
                      "first"] = Field("farthest_from_centroid", description="which record of a group is kept")
        score_column: Optional[str] = Field(None, description="column for keep: highest_score")
        niter: int = Field(20, ge=1, description="k-means iterations")

    def decide(self, data: pl.LazyFrame) -> Decisions:
        frame = self.chunk_columns(data).collect()
        n = frame.height
        if n < 2:
            return Decisions(verdicts(frame))
        spans = self.chunks(n)
        vectors, embedded = self.embed_all(frame)
        k = self.clusters_for(n)
        centroids = self.fit(vectors[self.fit_sample(n, k)], k)
        placed = pl.concat([self.placed(frame.slice(offset, rows), vectors[offset:offset + rows], centroids)
                            for offset, rows in spans])
        drops = self.dropped(placed[ORDER].to_numpy(), placed["_cluster"].to_numpy(), placed["_priority"].to_numpy(),
                             vectors, threads=os.cpu_count() or 1)
        ledger = self.ledger(drops, frame.select(ORDER, "id", "origin"))
        removed = np.zeros(n, dtype=bool)
        rows = ledger[ORDER].to_numpy().astype(np.int64)     # the local frame's _order is its row position
        removed[rows] = True
        return Decisions(verdicts(frame, removed, "semantic_duplicate", dict(zip(rows, ledger["detail"]))),
                         stats=self.stats(embedded, k, drops.height))

    # The parts after embedding, shared with the Ray engine (engines/ray_clustered.py).

    def extra_columns(self) -> list[str]:
        return [self.config.score_column] if self.config.score_column else []

    def wants_vectors(self, n: int) -> bool:
        return n >= 2

    def clusters_for(self, n: int) -> int:
        return self.config.clusters or default_clusters(n)

    def fit_sample(self, n: int, k: int) -> np.ndarray:
        return fit_rows(n, k, self.config.fit_fraction, self.ctx.seed)

    def fit(self, sample: np.ndarray, k: int) -> np.ndarray:
        """Centroids fitted on the sample's vectors (`fit_rows`)."""
        from ...models.index import kmeans_centroids
        return kmeans_centroids(sample, k, seed=self.ctx.seed, niter=self.config.niter)[0]

    def placed(self, chunk: pl.DataFrame, vectors: np.ndarray, centroids: np.ndarray) -> pl.DataFrame:
        """A chunk's records with their cluster and priority."""
        with one_blas_thread():
            cluster, centroid_sim = nearest_centroids(vectors, centroids)
        return pl.DataFrame({ORDER: chunk[ORDER].cast(pl.UInt64), "_cluster": cluster,
                             "_priority": self._priority(chunk, centroid_sim)})

    def dropped(self, orders: np.ndarray, clusters: np.ndarray, priority: np.ndarray, vectors: np.ndarray,
                threads: int = 1) -> pl.DataFrame:
        """`drops_in_clusters` at this step's threshold, over whole clusters."""
        return drops_in_clusters(orders, clusters, priority, vectors, self.config.threshold, threads)

    def ledger(self, drops: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
        """The dropped records' ledger rows (`_order`, id, reason, detail) from `drops_in_clusters`,
        given the `_order`, id and origin of at least the records named there."""
        names = names.select(pl.col(ORDER).cast(pl.UInt64), "id", "origin")
        kept = names.rename({ORDER: "_kept", "id": "_kept_id", "origin": "_kept_origin"})
        rows = drops.join(names, on=ORDER, how="left").join(kept, on="_kept", how="left").sort(ORDER)
        return rows.select(ORDER, "id", pl.lit("semantic_duplicate").alias("reason"), pl.format(
            "cos {} to kept {} ({})", pl.col("_sim").map_elements(lambda s: f"{s:.3f}", return_dtype=pl.Utf8),
            "_kept_id", "_kept_origin").alias("detail"))

    @staticmethod
    def stats(embedded: dict, k: int, dropped: int) -> dict:
        """The embedding stats (`merged_stats`) with the cluster and drop counts."""
        return {**embedded, "clusters": int(k), "semantic_duplicates": int(dropped)}

    def _priority(self, frame: pl.DataFrame, centroid_sim: np.ndarray) -> np.ndarray:
        """Lower sorts first (kept first)."""
        keep = self.config.keep
        if keep == "farthest_from_centroid":
            return centroid_sim.astype(np.float64)
        if keep == "closest_to_centroid":
            return -centroid_sim.astype(np.float64)
        if keep == "longest_response":
            return -frame["response"].str.len_chars().to_numpy().astype(np.float64)
        if keep == "highest_score":
            if not self.config.score_column:
                from ...errors import ConfigError
                raise ConfigError("dedup.semantic: keep: highest_score needs score_column")
            return -frame[self.config.score_column].fill_null(float("-inf")).to_numpy().astype(np.float64)
        return frame["_order"].to_numpy().astype(np.float64)
