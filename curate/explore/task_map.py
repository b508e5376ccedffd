"""`curate rank-tasks --plot`: the target's and every candidate's examples in one 2-D picture, so a
user sees what the numbers say (which candidates overlap the target's cloud, which sit apart).

The projection is PCA of all example vectors together (a linear map: distances between clouds
keep their meaning, and nothing random is fitted); at most `per_task` points are drawn per task,
with each task's centroid labelled by its rank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl


def plot_task_map(vectors: dict, table: pl.DataFrame, path: str | Path, per_task: int = 300, seed: int = 0) -> Path:
    """`vectors`: {"target": (n, d), "candidates": {name: (m, d)}} from `rank_frames`; `table`: its
    ranking. Writes a PNG to `path`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(seed)

    def some(x: np.ndarray) -> np.ndarray:
        return x if len(x) <= per_task else x[rng.choice(len(x), per_task, replace=False)]
    ranks = dict(zip(table["candidate"].to_list(), table["rank"].to_list()))
    names = sorted(vectors["candidates"], key=lambda n: ranks.get(n, 10**9))
    clouds = [("target", some(vectors["target"]))] + [(n, some(vectors["candidates"][n])) for n in names
                                                      if len(vectors["candidates"][n])]
    stacked = np.concatenate([c for _, c in clouds]).astype(np.float64)
    centre = stacked.mean(0)
    _, _, vt = np.linalg.svd(stacked - centre, full_matrices=False)
    axes = vt[:2].T
    fig, ax = plt.subplots(figsize=(8, 6))
    colours = plt.get_cmap("tab20")
    for k, (name, cloud) in enumerate(clouds):
        xy = (cloud - centre) @ axes
        if name == "target":
            ax.scatter(xy[:, 0], xy[:, 1], s=10, c="black", marker="x", label="target", zorder=3)
            continue
        colour = colours((k - 1) % 20)
        ax.scatter(xy[:, 0], xy[:, 1], s=6, color=colour, alpha=0.35)
        mid = xy.mean(0)
        label = f"{ranks.get(name, '?')}. {name if len(name) <= 28 else name[:27] + '…'}"
        ax.annotate(label, mid, fontsize=7, color=colour, weight="bold")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("Target (x) and candidates, PCA of example embeddings; labels: rank. name")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
