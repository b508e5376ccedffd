"""Benchmark: items/s of the log-likelihood `choice` scorer against generation on the same items.

The same BBH items, the bundled SmolLM2-135M on this CPU: `bbh:TASK` generates an answer (greedy,
up to 32 new tokens) and scores it by exact match; `bbh-choice:TASK` scores every option's
log-likelihood in batched forward passes. Target: >= 10x the generation scorer's items/s.

    python benchmarks/loglik_speed.py [--tasks snarks,date_understanding] [--limit 40]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("CURATE_DATA", str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="snarks,date_understanding,sports_understanding")
    ap.add_argument("--limit", type=int, default=40)
    args = ap.parse_args()
    from curate.evals.run import evaluate
    from curate.models.bundled import SMOLLM2
    from curate.models.lm import load_for_eval
    loaded = load_for_eval(SMOLLM2, None, "cpu")
    print(f"{'task':<24}{'gen items/s':>13}{'choice items/s':>16}{'ratio':>8}{'gen acc':>9}{'choice acc':>12}")
    for task in args.tasks.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            gen = evaluate(SMOLLM2, f"bbh:{task}", Path(tmp) / "g", limit=args.limit, loaded=loaded)
            choice = evaluate(SMOLLM2, f"bbh-choice:{task}", Path(tmp) / "c", limit=args.limit, loaded=loaded)
        print(f"{task:<24}{gen['items_per_s']:>13.2f}{choice['items_per_s']:>16.2f}"
              f"{choice['items_per_s'] / gen['items_per_s']:>7.1f}x{gen['score']:>9.3f}{choice['score']:>12.3f}")


if __name__ == "__main__":
    main()
