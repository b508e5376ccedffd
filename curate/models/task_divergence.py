"""How close a candidate dataset is to a target, read off their example embeddings: the measures
intermediate-task selection ranks candidates by (Poth et al., *What to Pre-Train on? Efficient
Intermediate Task Selection*; Pugantsov & McCreadie, *Divergence-Based Domain Transferability for
Zero-Shot Classification*).

Each measure takes the target's vectors (n x d) and a candidate's (m x d):

- `semb`: cosine of the two mean embeddings (Poth et al.'s SEmb); higher is closer;
- `mmd`: squared maximum mean discrepancy with an RBF kernel (unbiased estimate), its bandwidth
  the median distance between target examples (one bandwidth per target, so candidates compare);
  lower is closer;
- `frechet`: Fréchet distance of the Gaussians fitted to the two clouds (as FID is computed);
  lower is closer;
- `kl`: symmetric KL divergence of diagonal Gaussians fitted to the two clouds; lower is closer;
- `textemb`: cosine of the mean token states over all of each task's tokens (Poth et al.'s
  TextEmb; computed by `token_states`, not from these vectors, and only when asked for);
- `knn`: kNN coverage, the share of target examples that fall inside the candidate's cloud: a
  target example is covered when it is at least as similar to some candidate example as that
  example's k-th nearest candidate neighbour is (Kynkäänniemi et al.'s recall), searched with
  FAISS; higher is closer.

Why several: the paper's SEmb only compares centres; a candidate can share a target's centre and
cover little of it (a narrow task), which the divergences and coverage see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

KNN_K = 5
KNN_SEARCH = 32                      # candidate neighbours looked at per target example
MMD_MAX_POINTS = 2000                # larger clouds are subsampled (seeded) for the kernel sums


@dataclass(frozen=True)
class Measure:
    name: str
    higher_is_closer: bool
    min_examples: int
    describe: str


MEASURES = {
    "semb": Measure("semb", True, 1, "cosine of the mean embeddings (SEmb)"),
    "mmd": Measure("mmd", False, 2, "MMD^2, RBF kernel, median-distance bandwidth"),
    "frechet": Measure("frechet", False, 2, "Frechet distance of fitted Gaussians"),
    "kl": Measure("kl", False, 2, "symmetric KL of diagonal Gaussians"),
    "knn": Measure("knn", True, KNN_K + 1, f"share of target examples inside the candidate's {KNN_K}-NN balls"),
    # computed from token states, not from the sentence vectors (models/token_states.py): asked for by name
    "textemb": Measure("textemb", True, 1, "cosine of the mean token states (TextEmb)"),
}
DEFAULT_MEASURES = ["semb", "mmd", "frechet", "kl", "knn"]


def _subsample(x: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if len(x) <= limit:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))]


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


class TargetStats:
    """What every measure needs from the target, computed once for all candidates."""

    def __init__(self, target: np.ndarray, seed: int = 0):
        x = np.asarray(target, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError("the target needs at least 2 examples")
        self.x, self.seed = x, seed
        self.mean = x.mean(0)
        self.var = x.var(0, ddof=1) + 1e-6
        self.cov = np.cov(x, rowvar=False) + 1e-6 * np.eye(x.shape[1])
        w, v = np.linalg.eigh(self.cov)
        self.cov_sqrt = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        self.kernel_x = _subsample(x, MMD_MAX_POINTS, seed)
        d = _sq_dists(self.kernel_x, self.kernel_x)
        off = d[~np.eye(len(d), dtype=bool)]
        self.bandwidth2 = float(np.median(off)) if len(off) and np.median(off) > 0 else 1.0
        k = np.exp(-d / self.bandwidth2)
        n = len(k)
        self.kxx = float((k.sum() - np.trace(k)) / (n * (n - 1)))
        self.unit = (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def semb(t: TargetStats, c: np.ndarray) -> float:
    mu = c.mean(0)
    return float(t.mean @ mu / max(np.linalg.norm(t.mean) * np.linalg.norm(mu), 1e-12))


def mmd(t: TargetStats, c: np.ndarray) -> float:
    y = _subsample(c, MMD_MAX_POINTS, t.seed + 1)
    kyy = np.exp(-_sq_dists(y, y) / t.bandwidth2)
    m = len(y)
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    xy = np.exp(-_sq_dists(t.kernel_x, y) / t.bandwidth2).mean()
    return float(t.kxx + yy - 2.0 * xy)


def frechet(t: TargetStats, c: np.ndarray) -> float:
    """||mu_t - mu_c||^2 + Tr(S_t) + Tr(S_c) - 2 Tr((S_t^1/2 S_c S_t^1/2)^1/2)."""
    mu = c.mean(0)
    cov = np.cov(c, rowvar=False) + 1e-6 * np.eye(c.shape[1])
    middle = t.cov_sqrt @ cov @ t.cov_sqrt
    root_trace = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((t.mean - mu) ** 2).sum() + np.trace(t.cov) + np.trace(cov) - 2.0 * root_trace)


def kl(t: TargetStats, c: np.ndarray) -> float:
    """KL(t||c) + KL(c||t) of diagonal Gaussians."""
    mu, var = c.mean(0), c.var(0, ddof=1) + 1e-6
    d2 = (t.mean - mu) ** 2
    return float(0.5 * ((t.var + d2) / var + (var + d2) / t.var - 2.0).sum())


def knn(t: TargetStats, c: np.ndarray) -> float:
    from .index import VectorIndex
    unit = (c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    index = VectorIndex(unit.shape[1], kind="flat", device="cpu").add(unit)
    own, _ = index.search(unit, min(KNN_K + 1, len(unit)))         # itself first, then its neighbours
    radius = own[:, -1]                                             # similarity of the k-th neighbour
    sims, ids = index.search(t.unit, min(KNN_SEARCH, len(unit)))
    covered = ((ids >= 0) & (sims >= radius[np.clip(ids, 0, None)])).any(1)
    return float(covered.mean())


FUNCTIONS: dict[str, Callable[[TargetStats, np.ndarray], float]] = {
    "semb": semb, "mmd": mmd, "frechet": frechet, "kl": kl, "knn": knn}
