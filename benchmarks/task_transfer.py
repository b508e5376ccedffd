"""Verification of intermediate-task selection: an observed transfer matrix (P3 source tasks ×
BIG-Bench Hard target tasks × seeds), and how well each `curate rank-tasks` measure ranks the
sources against it (Regret@1, Regret@3, NDCG, Spearman, beside a random ranking).

Sources: one P3 template per source dataset (200 prompted examples each). Targets: binary BBH
tasks; each task's first `--train-items` items are its few-shot training data, the rest its eval
items, scored by log-likelihood of the two options (choice: separates at small scale). Each cell:
LoRA on the source (`--source-tokens`), then on the target's training items (`--target-tokens`),
against target-only training at the same target budget.

    python benchmarks/task_transfer.py [--sources 12] [--targets 4] [--seeds 2]
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
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "benchmarks" / "work" / "task_transfer"
SOURCES = ["ag_news_classify", "amazon_polarity_Is_this_review", "commonsense_qa_question_answering",
           "cosmos_qa_context_answer_to_question", "dbpedia_14_pick_one_category_for_the_following_text",
           "dream_baseline", "glue_mrpc_equivalent", "glue_qqp_duplicate", "imdb_Movie_Expressed_Sentiment",
           "quoref_Answer_Question_Given_Context", "ropes_given_background_situation",
           "adversarial_qa_dbert_answer_the_following_q", "gigaword_make_a_title", "common_gen_Put_together"]
TARGETS = ["sports_understanding", "causal_judgement", "navigate", "web_of_lies", "boolean_expressions",
           "formal_fallacies"]


def write_targets(names: list[str], train_items: int, work: Path) -> list[dict]:
    """Each BBH task split: its first items as training data, the rest as a choice suite."""
    targets = []
    for name in names:
        items = json.loads((SHARED / "bbh_instruction_format" / f"test_{name}").read_text())
        folder = work / "targets" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "train.json").write_text(json.dumps(items[:train_items]))
        (folder / "eval.json").write_text(json.dumps(items[train_items:]))
        (folder / "suite.yaml").write_text(
            f"name: {name}\ninputs: [{{path: {folder / 'eval.json'}, task: {name}}}]\nscorer: choice\n"
            "options: auto\ngroup_by: task\nsystem: Answer with the answer only.\n")
        targets.append({"name": name, "train": str(folder / "train.json"), "suite": str(folder / "suite.yaml")})
    return targets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=12)
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--source-tokens", type=int, default=6000)
    ap.add_argument("--target-tokens", type=int, default=1500)
    ap.add_argument("--train-items", type=int, default=40, help="target items used as its training data")
    ap.add_argument("--items", type=int, default=120, help="target eval items")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--metric", default="score", help="score (accuracy) or margin (log-probability lead)")
    ap.add_argument("--work", default=str(WORK))
    args = ap.parse_args()
    from curate.quiet import quiet_third_party
    quiet_third_party()
    from curate.evals.transfer import TransferSpec, transfer_matrix
    from curate.explore.rank_tasks import evaluate_ranking, format_evaluation
    work = Path(args.work)
    started = time.perf_counter()
    targets = write_targets(TARGETS[:args.targets], args.train_items, work)
    spec = TransferSpec(seeds=args.seeds, source_tokens=args.source_tokens, target_tokens=args.target_tokens,
                        lr=args.lr, metric=args.metric,
                        sources=[{"path": str(SHARED / "p3_t0_templates" / f"{s}.jsonl"), "name": s}
                                 for s in SOURCES[:args.sources]],
                        targets=[{**t, "items": args.items} for t in targets])
    name = f"s{args.sources}-t{args.targets}-seeds{args.seeds}-{args.source_tokens}-{args.target_tokens}"
    out = work / (name + ("" if args.metric == "score" else f"-{args.metric}"))
    table = transfer_matrix(spec, out, progress=True)
    matrix_seconds = time.perf_counter() - started
    summary, per_target = evaluate_ranking(out)
    per_target.write_csv(out / "ranking_quality.csv")
    print(f"\n{'target':<22} {'source':<34} {'gain':>8}  95% interval        verdict")
    for row in table.sort("target", "gain", descending=[False, True]).iter_rows(named=True):
        print(f"{row['target'][:22]:<22} {row['source'][:34]:<34} {row['gain']:>+8.4f}  "
              f"[{row['low']:+.4f}, {row['high']:+.4f}]  {row['verdict']}")
    alone = table.group_by("target").agg(__import__("polars").col("target_only").first()).sort("target")
    print("target-only scores:", dict(alone.iter_rows()))
    print()
    print(format_evaluation(summary))
    (out / "summary.json").write_text(json.dumps({"args": vars(args), "matrix_seconds": round(matrix_seconds, 1),
                                                  "ranking": summary.to_dicts()}, indent=2))
    print(f"total {time.perf_counter() - started:.0f} s; {out}")


if __name__ == "__main__":
    os.environ.setdefault("CURATE_DATA", str(SHARED))
    main()
