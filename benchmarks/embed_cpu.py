"""Benchmark: embedding 20k real instruction texts on this machine's CPU.

Baseline: sentence-transformers' default `SentenceTransformer(model).encode(texts)` (torch fp32,
batch 32), in the same process. Ours: `Embedder` with each backend (cache off, so every text is
computed). Quality: mean cosine to the baseline vectors, and top-10 neighbour overlap on a
retrieval check (1,000 query texts against all 20k, by each method's own vectors).

    python benchmarks/embed_cpu.py [--n 20000] [--shape long|short]

`long`: instruction plus context (mean ~320 characters); `short`: the texts of 40-120 characters
(mean ~80), where per-batch overheads weigh more. The `auto` row's time excludes choosing the
backend (timing the candidates once on this machine, ~45 s, then recorded in the cache).
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


def top10_overlap(ref: np.ndarray, got: np.ndarray, queries: int = 1000) -> float:
    q = np.arange(queries)
    a = np.argsort(-(ref[q] @ ref.T), axis=1)[:, 1:11]
    b = np.argsort(-(got[q] @ got.T), axis=1)[:, 1:11]
    return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b)]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--backends", default="auto,fp32,bf16,ov-fp32,ov-bf16,int8")
    ap.add_argument("--shape", choices=["long", "short"], default="long")
    args = ap.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer
    from curate.models.bundled import minilm_dir
    from curate.models.embed import Embedder
    if args.shape == "long":
        texts = real_texts(args.n)
    else:
        texts = [t for t in real_texts(10**7, strict=False) if 40 <= len(t) <= 120][: args.n]
    print(f"{len(texts)} texts, mean {np.mean([len(t) for t in texts]):.0f} chars; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    st = SentenceTransformer(str(minilm_dir()), device="cpu")
    st.encode(texts[:64])
    start = time.perf_counter()
    ref = st.encode(texts, batch_size=32, normalize_embeddings=True)
    base_s = time.perf_counter() - start
    rows = [{"method": "sentence-transformers encode (fp32, batch 32)", "seconds": base_s,
             "texts_per_s": len(texts) / base_s, "speedup": 1.0, "mean_cos": 1.0, "top10_overlap": 1.0}]
    for backend in args.backends.split(","):
        emb = Embedder(backend=backend, cache=False)
        chosen = emb.backend
        emb.encode(texts[:64])
        start = time.perf_counter()
        got = emb.encode(texts)
        s = time.perf_counter() - start
        rows.append({"method": f"curate Embedder backend={backend} ({chosen})", "seconds": s,
                     "texts_per_s": len(texts) / s, "speedup": base_s / s,
                     "mean_cos": float(np.mean(np.sum(ref * got, axis=1))), "top10_overlap": top10_overlap(ref, got),
                     "truncated": emb.stats.truncated})
    print(f"{'method':<52} {'s':>7} {'texts/s':>8} {'x':>5} {'mean cos':>9} {'top10':>6}")
    for r in rows:
        print(f"{r['method']:<52} {r['seconds']:>7.1f} {r['texts_per_s']:>8.0f} {r['speedup']:>5.2f} "
              f"{r['mean_cos']:>9.5f} {r['top10_overlap']:>6.3f}")
    out = Path(__file__).resolve().parent / "work" / f"embed_cpu_{args.shape}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
