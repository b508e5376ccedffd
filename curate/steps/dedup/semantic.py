"""`dedup.semantic`: SemDeDup (Abbas et al., 2023) — drop records whose meaning repeats another's."""

from __future__ import annotations

import math
from typing import Literal, Optional

import numpy as np
import polars as pl
from pydantic import Field

from ..base import Step, register
from ..common.embedding import EmbeddingConfig, collect_for_embedding, embed_frame
from ..decisions import Decisions, verdicts

BLOCK = 2048
CLUSTER_SIZE = 4000  # records per k-means cluster by default: see default_clusters


def default_clusters(n: int) -> int:
    """k so that clusters hold ~4,000 records on average. Duplicate pairs split across clusters are
    never compared, and larger clusters split fewer of them: on 100k real records at cosine 0.95,
    k = √n (316) compared 74% of the pairs above the threshold, k = n/4000 (25) 99.4%
    (benchmarks/semdedup.py). The work per record stays constant, so the cost grows linearly."""
    return max(1, math.ceil(n / CLUSTER_SIZE))


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


def semantic_duplicates(vectors: np.ndarray, threshold: float, clusters: int, priority_of, seed: int = 0,
                        niter: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SemDeDup over a whole set: (removed, kept twin row (-1 if kept), similarity to it, cluster).
    `priority_of(centroid_similarity)` gives each row's priority (lower is kept first)."""
    from ...models.index import kmeans
    n = len(vectors)
    _, assign, centroid_sim = kmeans(vectors, clusters, seed=seed, niter=niter)
    priority = priority_of(centroid_sim)
    removed = np.zeros(n, dtype=bool)
    kept_twin = np.full(n, -1, dtype=np.int64)
    similarity = np.zeros(n, dtype=np.float32)
    order = np.lexsort((np.arange(n), priority, assign))   # by cluster, then priority, then position
    bounds = np.flatnonzero(np.diff(assign[order])) + 1
    for members in np.split(order, bounds):
        gone, twin, best = cluster_duplicates(vectors[members], threshold)
        for j in np.flatnonzero(gone):
            t = twin[j]
            while gone[t]:                                  # follow to the kept record of the group
                t = twin[t]
            removed[members[j]] = True
            kept_twin[members[j]] = members[t]
            similarity[members[j]] = best[j]
    return removed, kept_twin, similarity, assign


@register("dedup.semantic")
class SemanticDedup(Step):
    """SemDeDup: embed records, cluster them with spherical k-means (one cluster per ~4,000 records
    unless `clusters` is given), and within each cluster drop
    every record whose cosine similarity to a higher-priority record exceeds `threshold` (the
    reference rule). Priority (`keep`): `farthest_from_centroid` (the paper's default: keeps the
    least prototypical record), `closest_to_centroid`, `longest_response`, `highest_score` (of
    `score_column`), or `first` (input order; ties of the other rules also go to input order). Dropped records go to the ledger as
    `semantic_duplicate` with the similarity and the id and origin of the kept record they repeat."""

    scope = "dataset"

    files = ("embeddings",)

    class Config(EmbeddingConfig):
        threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity above which records are duplicates")
        clusters: Optional[int] = Field(None, ge=1, description="k-means clusters (default: one per ~4,000 records)")
        keep: Literal["farthest_from_centroid", "closest_to_centroid", "longest_response", "highest_score",
                      "first"] = Field("farthest_from_centroid", description="which record of a group is kept")
        score_column: Optional[str] = Field(None, description="column for keep: highest_score")
        niter: int = Field(20, ge=1, description="k-means iterations")

    def decide(self, data: pl.LazyFrame) -> Decisions:
        cfg = self.config
        frame = collect_for_embedding(data, cfg, [cfg.score_column] if cfg.score_column else [])
        n = frame.height
        if n < 2:
            return Decisions(verdicts(frame))
        vectors, stats = embed_frame(frame, cfg, base_dir=self.ctx.base_dir)
        k = cfg.clusters or default_clusters(n)
        removed, twin, sim, _ = semantic_duplicates(
            vectors, cfg.threshold, k, lambda centroid_sim: self._priority(frame, centroid_sim),
            seed=self.ctx.seed, niter=cfg.niter)
        ids, origins = frame["id"].to_list(), frame["origin"].to_list()
        detail = {row: f"cos {sim[row]:.3f} to kept {ids[twin[row]]} ({origins[twin[row]]})"
                  for row in np.flatnonzero(removed)}
        stats.update({"clusters": int(k), "semantic_duplicates": int(removed.sum())})
        return Decisions(verdicts(frame, removed, "semantic_duplicate", detail), stats=stats)

    def _priority(self, frame: pl.DataFrame, centroid_sim: np.ndarray) -> np.ndarray:
        """Lower sorts first (kept first)."""
        keep = self.config.keep
        if keep == "farthest_from_centroid":
            return centroid_sim
        if keep == "closest_to_centroid":
            return -centroid_sim
        if keep == "longest_response":
            return -frame["response"].str.len_chars().to_numpy().astype(np.float64)
        if keep == "highest_score":
            if not self.config.score_column:
                from ...errors import ConfigError
                raise ConfigError("dedup.semantic: keep: highest_score needs score_column")
            return -frame[self.config.score_column].fill_null(float("-inf")).to_numpy().astype(np.float64)
        return frame["_order"].to_numpy().astype(np.float64)
