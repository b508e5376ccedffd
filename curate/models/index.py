"""Vector search and k-means over unit vectors (cosine = inner product), with FAISS.

Which index:
- `flat` (exact) up to 100,000 vectors, or when asked;
- `ivf` (inverted lists, nlist ~ 4*sqrt(n), `nprobe` lists searched) above that: approximate, much faster;
- `hnsw` when asked: graph search, no training, more memory.
On a CUDA machine the index moves to the GPU when this faiss build has GPU support; when it has
not, exact search runs as a blocked fp16 matrix product in torch on the GPU instead.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError

FLAT_MAX = 100_000


def faiss_gpus() -> int:
    import faiss
    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


def _as_f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


class VectorIndex:
    """Inner-product search. `VectorIndex(dim).add(vectors).search(queries, k) -> (sims, ids)`."""

    def __init__(self, dim: int, kind: str = "auto", device: str = "auto", nprobe: int = 16, hnsw_m: int = 32):
        if kind not in ("auto", "flat", "ivf", "hnsw"):
            raise ConfigError(f"index kind '{kind}': choose auto, flat, ivf or hnsw")
        self.dim, self.kind, self.nprobe, self.hnsw_m = dim, kind, nprobe, hnsw_m
        self.device = ("cuda" if cuda_available() else "cpu") if device == "auto" else device
        self.index = None
        self.torch_vectors = None  # exact GPU search without faiss-gpu
        self.ntotal = 0

    @property
    def backend(self) -> str:
        if self.torch_vectors is not None:
            return "torch-cuda"
        return f"faiss-{'gpu' if self.device.startswith('cuda') and faiss_gpus() else 'cpu'}-{self.kind}"

    def add(self, vectors: np.ndarray) -> "VectorIndex":
        import faiss
        x = _as_f32(vectors)
        n = len(x)
        kind = self.kind if self.kind != "auto" else ("flat" if n <= FLAT_MAX else "ivf")
        self.kind = kind
        gpu = self.device.startswith("cuda")
        if gpu and not faiss_gpus() and kind == "flat":
            import torch
            self.torch_vectors = torch.from_numpy(x).to(self.device, dtype=torch.float16)
            self.ntotal = n
            return self
        if kind == "flat":
            index = faiss.IndexFlatIP(self.dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        else:
            nlist = max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(x)
            index.nprobe = min(self.nprobe, nlist)
        if gpu and faiss_gpus() and kind != "hnsw":
            index = faiss.index_cpu_to_all_gpus(index)
        index.add(x)
        self.index = index
        self.ntotal = n
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.ntotal)
        q = _as_f32(queries)
        if self.torch_vectors is not None:
            return self._torch_search(q, k)
        return self.index.search(q, k)

    def _torch_search(self, q: np.ndarray, k: int, block: int = 8192):
        import torch
        sims, ids = [], []
        for start in range(0, len(q), block):
            part = torch.from_numpy(q[start:start + block]).to(self.device, dtype=torch.float16)
            s, i = torch.topk(part @ self.torch_vectors.T, k, dim=1)
            sims.append(s.float().cpu().numpy())
            ids.append(i.cpu().numpy())
        return np.concatenate(sims), np.concatenate(ids).astype(np.int64)

    def save(self, path: str | Path) -> Path:
        import faiss
        path = Path(path)
        if self.torch_vectors is not None:
            cpu = faiss.IndexFlatIP(self.dim)
            cpu.add(self.torch_vectors.float().cpu().numpy())
        else:
            cpu = faiss.index_gpu_to_cpu(self.index) if self.backend.startswith("faiss-gpu") else self.index
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(cpu, str(tmp))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "VectorIndex":
        import faiss
        index = faiss.read_index(str(path))
        out = cls(index.d, "flat" if isinstance(index, faiss.IndexFlat) else "ivf", device)
        if isinstance(index, faiss.IndexHNSW):
            out.kind = "hnsw"
        out.index, out.ntotal = index, index.ntotal
        return out


def kmeans_centroids(vectors: np.ndarray, k: int, seed: int = 0, niter: int = 20, device: str = "auto"
                     ) -> tuple[np.ndarray, "object"]:
    """Spherical k-means with faiss, fitted on every row given (faiss's own subsampling is off, so
    the caller decides what the fit sees): (centroids (k, d), the trained faiss index)."""
    import faiss
    x = _as_f32(vectors)
    k = max(1, min(k, len(x)))
    gpu = (device == "auto" and cuda_available() or device.startswith("cuda")) and faiss_gpus() > 0
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=True, gpu=gpu, verbose=False,
                      min_points_per_centroid=1, max_points_per_centroid=max(256, math.ceil(len(x) / k)))
    km.train(x)
    return km.centroids, km.index


def kmeans(vectors: np.ndarray, k: int, seed: int = 0, niter: int = 20, device: str = "auto"
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spherical k-means with faiss: (centroids (k, d), assignment (n,), cosine to own centroid (n,))."""
    x = _as_f32(vectors)
    centroids, index = kmeans_centroids(x, k, seed, niter, device)
    sims, assign = index.search(x, 1)
    return centroids, assign[:, 0].astype(np.int64), sims[:, 0]
