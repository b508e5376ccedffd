"""`tag.cluster`: add each record's k-means cluster and its distance to the cluster centroid."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np
import polars as pl
from pydantic import Field

from ..base import Step, register
from ..common.chunked_embedding import ChunkedEmbedding
from ..common.embedding import EmbeddingConfig
from ..decisions import Decisions, keep_all


@register("tag.cluster")
class TagCluster(ChunkedEmbedding, Step):
    """Embed records, cluster them with spherical k-means, and add `tag_cluster` (the cluster number
    as text) and `score_centroid_distance` (1 - cosine to its centroid) for exploration in SQL, e.g.
    `SELECT tag_cluster, count(*), any_value(instruction) FROM final GROUP BY 1`. The centroids are
    saved as a FAISS index in the run's cache folder. Never rejects."""

    scope = "dataset"
    version = "2"   # 2: embedded in fixed chunks, copies sharing a vector (the same vectors on every engine)

    files = ("embeddings",)

    class Config(EmbeddingConfig):
        clusters: Optional[int] = Field(None, ge=1, description="number of clusters (default: sqrt of the record count)")
        niter: int = Field(20, ge=1, description="k-means iterations")

    def decide(self, data: pl.LazyFrame) -> Decisions:
        from ...models.index import VectorIndex, kmeans
        frame = self.chunk_columns(data).collect()
        n = frame.height
        cluster = np.zeros(n, dtype=np.int64)
        distance = np.zeros(n, dtype=np.float32)
        stats: dict = {}
        if n:
            vectors, stats = self.embed_all(frame)
            k = self.config.clusters or max(1, int(round(math.sqrt(n))))
            centroids, cluster, sims = kmeans(vectors, k, seed=self.ctx.seed, niter=self.config.niter)
            distance = (1.0 - sims).astype(np.float32)
            stats["clusters"] = int(len(centroids))
            if self.ctx.cache_dir:
                Path(self.ctx.cache_dir).mkdir(parents=True, exist_ok=True)
                VectorIndex(centroids.shape[1], "flat", "cpu").add(centroids).save(
                    Path(self.ctx.cache_dir) / f"{self.ctx.stage:02d}-tag.cluster-centroids.faiss")
        columns = {"tag_cluster": pl.Series("tag_cluster", cluster.astype(str), dtype=pl.Utf8),
                   "score_centroid_distance": pl.Series("score_centroid_distance", distance, dtype=pl.Float64)}
        return Decisions(keep_all(frame, columns), stats=stats)
