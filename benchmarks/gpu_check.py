"""GPU checks for the embedder and vector search, run on a lent GPU machine (see RESULTS.md).

    python benchmarks/gpu_check.py embed MODEL_DIR TEXTS.parquet   # fp16 Embedder vs sentence-transformers
    python benchmarks/gpu_check.py search                           # faiss-cpu flat vs curate's GPU search

Only curate.models.{embed,index} are imported, so the GPU machine needs torch,
sentence-transformers, numpy, pyarrow and faiss-cpu (for `search`), nothing else of curate's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")   # `cpu` only to try this script without a GPU
LIMIT = int(os.environ.get("GPU_CHECK_LIMIT", "0"))


def sync() -> None:
    import torch
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn, *args):
    sync()
    start = time.perf_counter()
    out = fn(*args)
    sync()
    return out, time.perf_counter() - start


def device_name() -> str:
    import torch
    return torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"


def embed(model_dir: str, texts_path: str) -> dict:
    import pyarrow.parquet as pq
    import torch
    from sentence_transformers import SentenceTransformer
    from curate.models.embed import Embedder
    texts = pq.read_table(texts_path).column("text").to_pylist()[: LIMIT or None]
    st = SentenceTransformer(model_dir, device=DEVICE).float()
    st.encode(texts, batch_size=32)             # the same warm-up for the baseline
    ref, base_s = timed(lambda: st.encode(texts, batch_size=32, normalize_embeddings=True))
    rows = {"device": device_name(), "torch": torch.__version__, "texts": len(texts),
            "st_fp32_batch32": {"seconds": base_s, "texts_per_s": len(texts) / base_s}}
    st.encode(texts, batch_size=512)
    st_big, s2 = timed(lambda: st.encode(texts, batch_size=512, normalize_embeddings=True))
    rows["st_fp32_batch512"] = {"seconds": s2, "texts_per_s": len(texts) / s2}
    for backend in (("fp32", "fp16") if DEVICE == "cuda" else ("fp32",)):
        emb = Embedder(model_dir, device=DEVICE, backend=backend, cache=False)
        emb.encode(texts)                      # a full warm-up pass: every batch shape seen once
        got, s = timed(emb.encode, texts)
        rows[f"curate_{backend}"] = {"seconds": s, "texts_per_s": len(texts) / s, "speedup": base_s / s,
                                     "mean_cos_vs_st_fp32": float(np.mean(np.sum(ref * got, axis=1)))}
    return rows


def search(n: int = 200_000, queries: int = 10_000, dim: int = 384, k: int = 10) -> dict:
    import faiss
    from curate.models.index import VectorIndex
    n, queries = (LIMIT * 10, LIMIT) if LIMIT else (n, queries)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:queries] + 0.05 * rng.normal(size=(queries, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    out = {"device": device_name(), "vectors": n, "queries": queries, "k": k,
           "faiss_version": faiss.__version__, "faiss_gpus": faiss.get_num_gpus(), "cpu_threads": faiss.omp_get_max_threads()}
    cpu = VectorIndex(dim, "flat", "cpu").add(x)
    (s_cpu, i_cpu), t_cpu = timed(cpu.search, q, k)
    gpu = VectorIndex(dim, "flat", DEVICE).add(x)
    gpu.search(q[:100], k)
    (s_gpu, i_gpu), t_gpu = timed(gpu.search, q, k)
    overlap = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(i_cpu, i_gpu)]))
    out["faiss_cpu_flat"] = {"seconds": t_cpu, "queries_per_s": queries / t_cpu}
    out[f"curate_{gpu.backend}"] = {"seconds": t_gpu, "queries_per_s": queries / t_gpu, "speedup": t_cpu / t_gpu,
                                    "top10_overlap_vs_cpu": overlap}
    return out


if __name__ == "__main__":
    mode = sys.argv[1]
    result = embed(sys.argv[2], sys.argv[3]) if mode == "embed" else search()
    print(json.dumps(result, indent=2))
