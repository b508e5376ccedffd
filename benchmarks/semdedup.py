"""Benchmark: `dedup.semantic` on 100k real records with embeddings given, against exact brute force.

Embeddings of 100k real texts (instruction, context and response) from ../shared/data come from
curate's Embedder (cached on disk, so only the first run pays for them). Timed: SemDeDup itself
(k-means with the step's default k, one cluster per ~4,000 records, and within-cluster
similarities; `--clusters 316` gives k = sqrt(n) for comparison; `--fit-fraction 1` fits k-means on
every record instead of the step's default 10% sample). Reference: exact brute force over all
pairs (FAISS flat range search), giving every pair above the threshold and the records the
reference rule removes when the whole set is one cluster.

    python benchmarks/semdedup.py [--n 100000] [--threshold 0.95] [--fit-fraction 0.1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from real_texts import real_texts  # noqa: E402


def brute_force(x: np.ndarray, threshold: float, assign: np.ndarray, block: int = 2048):
    """Exact pairs above the threshold (FAISS flat range search), counted block by block: how many,
    how many fall inside one cluster (so SemDeDup compares them), and which records are in any."""
    import faiss
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    total = same = 0
    in_pair = np.zeros(len(x), dtype=bool)
    for start in range(0, len(x), block):
        lims, _, ids = index.range_search(x[start:start + block], threshold)
        rows = np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims).astype(np.int64))
        upper = ids > rows
        i, j = rows[upper], ids[upper]
        total += len(i)
        same += int(np.sum(assign[i] == assign[j]))
        in_pair[i] = True
        in_pair[j] = True
    return total, same, in_pair


def semdedup(x: np.ndarray, threshold: float, clusters: int | None, fraction: float):
    """The step's own parts over the whole set, keeping the record farthest from its centroid:
    (removed mask, cluster of each record, k, records the fit saw)."""
    import os
    from curate.models.index import kmeans_centroids
    from curate.steps.dedup.semantic import default_clusters, drops_in_clusters, fit_rows, nearest_centroids
    n = len(x)
    k = clusters or default_clusters(n)
    sample = fit_rows(n, k, fraction, seed=0)
    centroids, _ = kmeans_centroids(x[sample], k, seed=0)
    assign, centroid_sim = nearest_centroids(x, centroids)
    drops = drops_in_clusters(np.arange(n), assign, centroid_sim.astype(np.float64), x, threshold,
                              threads=os.cpu_count() or 1)
    removed = np.zeros(n, dtype=bool)
    removed[drops["_order"].to_numpy().astype(np.int64)] = True
    return removed, assign, k, len(sample)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--clusters", type=int, default=None, help="default: the step's own default")
    ap.add_argument("--fit-fraction", type=float, default=None, help="default: the step's own default")
    args = ap.parse_args()
    from curate.models.embed import Embedder
    from curate.steps.dedup.semantic import SemanticDedup
    texts = real_texts(args.n, with_response=True)
    start = time.perf_counter()
    emb = Embedder(progress=True)
    x = emb.encode(texts)
    embed_s = time.perf_counter() - start
    fraction = args.fit_fraction or SemanticDedup.Config.model_fields["fit_fraction"].default
    start = time.perf_counter()
    removed, assign, k, fitted = semdedup(x, args.threshold, args.clusters, fraction)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    pairs, found, in_pairs = brute_force(x, args.threshold, assign)
    brute_s = time.perf_counter() - start
    recall = found / pairs if pairs else 1.0
    result = {"records": len(x), "threshold": args.threshold, "clusters": k, "fit_records": fitted,
              "embed_seconds": embed_s,
              "embed_backend": emb.backend, "embed_computed": emb.stats.computed,
              "semdedup_seconds": ours_s, "removed": int(removed.sum()), "bruteforce_seconds": brute_s,
              "pairs_above_threshold": pairs, "pairs_in_same_cluster": found, "pair_recall": recall,
              "records_in_some_pair": int(in_pairs.sum())}
    for key, value in result.items():
        print(f"{key:>24}: {value:.3f}" if isinstance(value, float) else f"{key:>24}: {value}")
    out = Path(__file__).resolve().parent / "work" / "semdedup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
