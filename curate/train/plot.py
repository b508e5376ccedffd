"""The loss curve of a training run, as a PNG next to its metrics."""

from __future__ import annotations

import json
from pathlib import Path


def plot_loss(metrics: Path, out: Path) -> Path | None:
    """Per-step loss and its moving average against tokens seen; None when there are no steps."""
    rows = [json.loads(line) for line in Path(metrics).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["loss"] is not None]      # a step with no response token has no loss
    if not rows:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tokens = [r["tokens"] for r in rows]
    loss = [r["loss"] for r in rows]
    window = max(1, len(loss) // 20)
    smooth = [sum(loss[max(0, i - window + 1):i + 1]) / len(loss[max(0, i - window + 1):i + 1])
              for i in range(len(loss))]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(tokens, loss, alpha=0.35 if window > 1 else 1.0, label="loss per step")
    if window > 1:
        ax.plot(tokens, smooth, label=f"moving average ({window} steps)")
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("loss (mean per response token)")
    folder = Path(metrics).resolve().parent
    ax.set_title(f"LoRA training loss: {folder.parent.name}/{folder.name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
