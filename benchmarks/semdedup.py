"""Benchmark: `dedup.semantic` on 100k real records with embeddings given, against exact brute force.

Embeddings of 100k real texts (instruction, context and response) from ../shared/data come from
curate's Embedder (cached on disk, so only the first run pays for them). Timed: SemDeDup itself
(k-means with the step's default k, one cluster per ~4,000 records, and within-cluster
similarities; `--clusters 316` gives k = sqrt(n) for comparison). Reference: exact brute force over all
pairs (FAISS flat range search), giving every pair above the threshold and the records the
reference rule removes when the whole set is one cluster.

    python benchmarks/semdedup.py [--n 100000] [--threshold 0.95]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--clusters", type=int, default=None, help="default: the step's own default")
    args = ap.parse_args()
    from curate.models.embed import Embedder
    from curate.steps.dedup.semantic import default_clusters, semantic_duplicates
    texts = real_texts(args.n, with_response=True)
    start = time.perf_counter()
    emb = Embedder(progress=True)
    x = emb.encode(texts)
    embed_s = time.perf_counter() - start
    k = args.clusters or default_clusters(len(x))
    start = time.perf_counter()
    removed, twin, _, assign = semantic_duplicates(x, args.threshold, k, lambda c: c, seed=0)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    pairs, found, in_pairs = brute_force(x, args.threshold, assign)
    brute_s = time.perf_counter() - start
    recall = found / pairs if pairs else 1.0
    result = {"records": len(x), "threshold": args.threshold, "clusters": k, "embed_seconds": embed_s,
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
