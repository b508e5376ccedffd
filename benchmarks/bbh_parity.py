"""Parity and speed: curate's `choice` scorer against lm-eval-harness on a whole BBH task.

The same items, prompt (chat template, system "Answer with the answer only.") and options: curate
runs `bbh-choice:TASK`; lm-eval runs the task YAML in docs/lm-eval (its own evaluator, `hf` model,
`apply_chat_template`). Prints both accuracies, how many items agree on acc and acc_norm, the
largest gap between the gold option's log-likelihoods, and items/s of each (the ratio is
curate's speed over lm-eval's).

    python benchmarks/bbh_parity.py [--task date_understanding] [--lm-eval-task bbh_date_choice] [--limit N]
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
os.environ.setdefault("CURATE_DATA", str(ROOT.parent / "shared" / "data"))
SYSTEM = "Answer with the answer only."


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="date_understanding")
    ap.add_argument("--lm-eval-task", default="bbh_date_choice")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--work", default=str(ROOT / "benchmarks" / "work" / "bbh_parity"))
    args = ap.parse_args()
    from curate.quiet import quiet_third_party
    quiet_third_party()
    import polars as pl
    from curate.evals.harness import run_harness
    from curate.evals.run import evaluate
    from curate.models.bundled import SMOLLM2
    work = Path(args.work)
    os.chdir(ROOT)                                   # the task YAML names ../shared/data relative to the repo
    start = time.perf_counter()
    ours = evaluate(SMOLLM2, f"bbh-choice:{args.task}", work / "curate", limit=args.limit, device="cpu")
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = run_harness(SMOLLM2, [args.lm_eval_task], work / "lm-eval", limit=args.limit,
                         tasks_dir=str(ROOT / "docs" / "lm-eval"), system=SYSTEM)[args.lm_eval_task]
    theirs_s = time.perf_counter() - start
    a = pl.read_parquet(work / "curate" / "predictions.parquet")
    b = pl.read_parquet(work / "lm-eval" / args.lm_eval_task / "predictions.parquet")
    assert a.height == b.height, (a.height, b.height)
    same_acc = sum(x == y for x, y in zip(a["score"], b["score"]))
    same_norm = sum(x == y for x, y in zip(a["acc_norm"], b["acc_norm"]))
    gaps = []
    for resps, margin, answers in zip(b["prediction"], a["margin"], b["answers"]):
        lls = [r[0] for r in json.loads(resps)]
        gold = int(answers[0])
        gaps.append(abs(lls[gold] - max(ll for k, ll in enumerate(lls) if k != gold) - margin))
    row = {"task": args.task, "items": a.height, "curate_acc": ours["score"], "lm_eval_acc": theirs["score"],
           "curate_acc_norm": ours["acc_norm"], "lm_eval_acc_norm": theirs["acc_norm"],
           "items_same_acc": same_acc, "items_same_acc_norm": same_norm, "max_margin_gap": round(max(gaps), 5),
           "curate_items_per_s": round(a.height / ours_s, 2), "lm_eval_items_per_s": round(b.height / theirs_s, 2),
           "speed_ratio": round(theirs_s / ours_s, 2)}
    print(json.dumps(row, indent=2))
    (work / f"{args.task}.json").write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
