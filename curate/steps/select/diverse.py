"""`select.diverse`: choose N records that cover the embedding space."""

from __future__ import annotations

import math
from typing import Literal, Optional

import numpy as np
import polars as pl
from pydantic import Field

from ..base import HowMany, Step, register
from ..common.chunked_embedding import ChunkedEmbedding
from ..common.embedding import EmbeddingConfig
from ..decisions import Decisions, verdicts


def kcenter(vectors: np.ndarray, n: int, weight: np.ndarray | None, first: int) -> np.ndarray:
    """Greedy k-center: repeatedly take the record farthest (1 - cosine) from everything chosen,
    its distance multiplied by its weight when one is given."""
    chosen = [first]
    dist = 1.0 - vectors @ vectors[first]
    w = weight if weight is not None else 1.0
    for _ in range(n - 1):
        nxt = int(np.argmax(dist * w))
        if dist[nxt] <= 0:
            break
        chosen.append(nxt)
        np.minimum(dist, 1.0 - vectors @ vectors[nxt], out=dist)
    return np.array(chosen, dtype=np.int64)


def cluster_balanced(assign: np.ndarray, n: int, order_key: np.ndarray) -> np.ndarray:
    """Equal shares per cluster (leftover shares go to clusters that still have records); within a
    cluster, records in `order_key` order (highest weight, or a seeded shuffle)."""
    members = {c: np.flatnonzero(assign == c) for c in np.unique(assign)}
    members = {c: m[np.argsort(order_key[m], kind="stable")] for c, m in members.items()}
    taken = {c: 0 for c in members}
    chosen: list[int] = []
    while len(chosen) < n:
        open_ = [c for c in members if taken[c] < len(members[c])]
        if not open_:
            break
        share = max(1, (n - len(chosen)) // len(open_))
        for c in open_:
            grab = members[c][taken[c]:taken[c] + share][: n - len(chosen)]
            chosen.extend(grab.tolist())
            taken[c] += len(grab)
            if len(chosen) >= n:
                break
    return np.array(chosen, dtype=np.int64)


@register("select.diverse")
class DiverseSelect(ChunkedEmbedding, Step):
    """Keep `n` records (or a `fraction`) that cover the embedding space. `method: cluster` (default,
    fast): spherical k-means into `clusters` groups (default ~ 2*sqrt(n)) and equal shares from each,
    preferring a higher `weight` column, else a seeded random order. `method: kcenter`: greedy
    k-center (farthest-first), each candidate's distance multiplied by its `weight`. The others go
    to the ledger as `not_selected`."""

    scope = "dataset"
    version = "2"   # 2: embedded in fixed chunks, copies sharing a vector (the same vectors on every engine)

    files = ("embeddings",)

    class Config(EmbeddingConfig, HowMany):
        method: Literal["cluster", "kcenter"] = Field("cluster", description="cluster-balanced or k-center greedy")
        clusters: Optional[int] = Field(None, ge=1, description="k-means clusters for method: cluster")
        weight: Optional[str] = Field(None, description="score column to prefer (higher is better)")

    def decide(self, data: pl.LazyFrame) -> Decisions:
        from ...models.index import kmeans
        cfg = self.config
        frame = self.chunk_columns(data).collect()
        total = frame.height
        want = cfg.count(total)
        if not self.wants_vectors(total):
            return Decisions(verdicts(frame))
        vectors, stats = self.embed_all(frame)
        weight = frame[cfg.weight].fill_null(0).to_numpy().astype(np.float64) if cfg.weight else None
        rng = np.random.default_rng(self.ctx.seed)
        if cfg.method == "kcenter":
            first = int(np.argmax(weight)) if weight is not None else int(rng.integers(total))
            chosen = kcenter(vectors, want, weight, first)
        else:
            k = cfg.clusters or max(1, min(want, int(2 * math.sqrt(total))))
            _, assign, _ = kmeans(vectors, k, seed=self.ctx.seed)
            order_key = -weight if weight is not None else rng.permutation(total).astype(np.float64)
            chosen = cluster_balanced(assign, want, order_key)
        keep = np.zeros(total, dtype=bool)
        keep[chosen] = True
        stats["selected"] = int(keep.sum())
        return Decisions(verdicts(frame, ~keep, "not_selected", [f"select.diverse {cfg.method}"] * total),
                         stats=stats)

    def extra_columns(self) -> list[str]:
        return [self.config.weight] if self.config.weight else []

    def wants_vectors(self, n: int) -> bool:
        return self.config.count(n) < n
