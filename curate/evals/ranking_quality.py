"""How good a ranking of intermediate tasks is, against the transfer actually observed (Poth et
al.'s measures), with what a random ranking would get beside each, so "Regret@3 = 4%" can be read.

- Regret@k: (the best observed target score - the best score among the k candidates ranked
  first) / the best observed score x 100: what picking from the top k costs. 0 = the best
  candidate was among them. Scores are oriented so that higher is better (a loss is negated, and
  the regret is taken on its magnitude).
- NDCG: normalised discounted cumulative gain of the ranking, with the observed gains over
  target-only training, shifted to start at 0, as relevance.
- Spearman: rank correlation between the predicted closeness and the observed gain.
"""

from __future__ import annotations

from math import comb

import numpy as np

RANDOM_ROUNDS = 2000


def regret_at_k(scores: np.ndarray, predicted_order: np.ndarray, k: int) -> float:
    """`scores`: observed target score per candidate (higher is better); `predicted_order`:
    candidate indices, predicted best first."""
    best = float(np.max(scores))
    picked = float(np.max(scores[predicted_order[:k]]))
    return (best - picked) / abs(best) * 100.0 if best != 0 else 0.0


def expected_random_regret(scores: np.ndarray, k: int) -> float:
    """Exactly: the mean Regret@k over every set of k candidates, each equally likely."""
    ordered = np.sort(scores)                       # ascending: the i-th is the best of a k-set
    n = len(ordered)                                # with probability C(i, k-1) / C(n, k)
    k = min(k, n)
    weights = np.array([comb(i, k - 1) for i in range(n)], dtype=np.float64) / comb(n, k)
    best = float(ordered[-1])
    return float((best - weights @ ordered) / abs(best) * 100.0) if best != 0 else 0.0


def ndcg(gains: np.ndarray, predicted_order: np.ndarray) -> float:
    relevance = gains - gains.min()
    discounts = 1.0 / np.log2(np.arange(2, len(gains) + 2))
    ideal = float(np.sort(relevance)[::-1] @ discounts)
    return float(relevance[predicted_order] @ discounts / ideal) if ideal > 0 else 1.0


def random_ndcg(gains: np.ndarray, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([ndcg(gains, rng.permutation(len(gains))) for _ in range(RANDOM_ROUNDS)]))


def spearman(closeness: np.ndarray, gains: np.ndarray) -> float | None:
    from scipy.stats import spearmanr
    if len(gains) < 3 or np.ptp(gains) == 0 or np.ptp(closeness) == 0:
        return None
    return float(spearmanr(closeness, gains).statistic)
