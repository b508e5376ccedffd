"""How long `curate rank-tasks` takes to rank 100 candidate datasets of 1,000 examples each against
a target with every measure, embeddings given (the issue's target: under 2 minutes on this CPU),
and what each measure costs. The vectors are real-shaped (384-d unit vectors, all-MiniLM-L6-v2's
size) but drawn at random around per-task centres: the measures' cost depends on the shapes, not
on the text. The embedding pass itself runs at the Embedder's speed (benchmarks/embed_cpu.py).

    python benchmarks/rank_tasks_speed.py [--candidates 100] [--examples 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def unit_cloud(rng, n: int, dim: int, centre):
    import numpy as np
    x = centre + 0.6 * rng.normal(size=(n, dim)) / np.sqrt(dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    import numpy as np
    from curate.models.task_divergence import FUNCTIONS, TargetStats
    from curate.steps.common.task_ranking import rank_vectors
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=384)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    base = rng.normal(size=args.dim)
    base /= np.linalg.norm(base)

    def centre(scale):
        c = base + scale * rng.normal(size=args.dim) / np.sqrt(args.dim)
        return c / np.linalg.norm(c)
    target = unit_cloud(rng, args.examples, args.dim, centre(0.3))
    candidates = {f"c{k:03d}": unit_cloud(rng, args.examples, args.dim, centre(rng.uniform(0.2, 2.0)))
                  for k in range(args.candidates)}
    stats = TargetStats(target)
    sample = list(candidates.values())[:10]
    print(f"{args.candidates} candidates x {args.examples} examples, {args.dim}-d; seconds per candidate:")
    for name, fn in FUNCTIONS.items():
        start = time.perf_counter()
        for c in sample:
            fn(stats, c.astype(np.float64))
        print(f"  {name:<8} {(time.perf_counter() - start) / len(sample):.4f}")
    start = time.perf_counter()
    table = rank_vectors(target, candidates, list(FUNCTIONS))
    seconds = time.perf_counter() - start
    print(f"rank_vectors, every measure: {seconds:.1f} s for {args.candidates} candidates "
          f"({seconds / args.candidates:.3f} s each); target: under 120 s")
    print(table.head(3))


if __name__ == "__main__":
    main()
