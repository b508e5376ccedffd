"""First real evidence: LoRA on curated Instruction-Induction `induce` data makes the bundled
SmolLM2 better on the tasks' `execute` split, with a 95% interval over items and seeds.

1. `curate run benchmarks/first_evidence.yaml`: induce examples of six tasks, minus any whose input
   appears in the execute split, 150 per task.
2. For each seed: `curate train` (LoRA) on that run.
3. `curate eval` on `ii-execute:<the six tasks>` (exact match, 50 items per task) for the untuned
   model once (greedy decoding is deterministic) and for every seed's adapter.
4. Paired bootstrap over items and seeds of (tuned - untuned).

    python benchmarks/first_evidence.py [--seeds 3] [--per-task 50] [--lr 1e-3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CURATE_DATA", str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"))
WORK = ROOT / "benchmarks" / "work" / "first_evidence"
TASKS = ["sum", "diff", "first_word_letter", "letters_list", "singular_to_plural", "num_to_verbal"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-task", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=float, default=1.0)
    args = ap.parse_args()
    from curate import run
    from curate.evals.compare import bootstrap_diff, scores_matrix, write_report
    from curate.evals.run import evaluate
    from curate.models.bundled import SMOLLM2
    from curate.train.config import TrainConfig
    from curate.train.loop import Trainer
    data = run(ROOT / "benchmarks" / "first_evidence.yaml", out=WORK / "runs")
    print(f"training data: {data.dir} ({data.final().height} records)")
    suite = "ii-execute:" + ",".join(TASKS)
    timings = {}
    base_dir = WORK / "untuned"
    start = time.perf_counter()
    if not (base_dir / "summary.json").is_file():
        evaluate(SMOLLM2, suite, base_dir, limit=args.per_task)
    timings["eval_untuned_s"] = time.perf_counter() - start
    tuned = []
    for seed in range(args.seeds):
        out = WORK / f"seed-{seed}"
        start = time.perf_counter()
        if not (out / "train" / "summary.json").is_file():
            Trainer(TrainConfig(data=str(data.dir), out=str(out / "train"), seed=seed, lr=args.lr, epochs=args.epochs,
                                max_len=256, batch_size=8), progress=False).run()
        timings[f"train_seed{seed}_s"] = time.perf_counter() - start
        start = time.perf_counter()
        if not (out / "eval" / "summary.json").is_file():
            evaluate(SMOLLM2, suite, out / "eval", adapter=str(out / "train" / "adapter"), limit=args.per_task)
        timings[f"eval_seed{seed}_s"] = time.perf_counter() - start
        tuned.append(out / "eval")
    base, _ = scores_matrix([base_dir])
    treat, _ = scores_matrix(tuned)
    results = {"exact match (all six tasks)": bootstrap_diff(base, treat)}
    import polars as pl
    groups_base = pl.read_parquet(base_dir / "predictions.parquet").sort("id")
    for task in TASKS:
        mask = (groups_base["group"] == task).to_numpy()
        results[task] = bootstrap_diff(base[:, mask], treat[:, mask])
    write_report(results, WORK, f"LoRA on curated induce data vs untuned {SMOLLM2}")
    summaries = [json.loads((WORK / f"seed-{s}" / "train" / "summary.json").read_text()) for s in range(args.seeds)]
    print(f"{'metric':<30} {'untuned':>8} {'tuned':>8} {'diff':>8}  95% interval      verdict")
    for name, r in results.items():
        print(f"{name:<30} {r['baseline']:>8.3f} {r['treatment']:>8.3f} {r['diff']:>+8.3f}  "
              f"[{r['low']:+.3f}, {r['high']:+.3f}]  {r['verdict']}")
    print("training:", [{k: s[k] for k in ("tokens", "seconds", "tokens_per_s", "examples")} for s in summaries])
    print("timings:", {k: round(v, 1) for k, v in timings.items()})
    print(f"report: {WORK / 'report.md'}")


if __name__ == "__main__":
    main()
