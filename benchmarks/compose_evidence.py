"""Verification of compose.sequential (SIT) and compose.chain (CoI) by training: does mixing
composed records into a general instruction set make the bundled SmolLM2 better at multi-step
instructions, at the same token budget, without losing single-step ability?

Arms (all from ../shared/data, decontaminated against the eval sets):
    base  = Alpaca-style demo (999) + LIMA (1,029), tidied and deduplicated
    sit   = base + compose.sequential versions of a share (`--ratio`) of its records
    coi   = base + compose.chain versions of a share of its records
`curate compare` trains LoRA on each arm with `--seeds` seeds at `--budget` tokens each and
evaluates every adapter on:
    ii-sequential   Instruction-Induction execute items with a held-out intermediate step, each step scored
    coi             the published CoI test sets (2- and 3-step chains), ROUGE-L
    ii-single       the same Instruction-Induction items single-step, scored alike (regressions)
The baseline arm's trainings and evals are shared by both comparisons.

    python benchmarks/compose_evidence.py [--seeds 3] [--budget 40000] [--ratio 0.5] [--arms sit,coi]
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
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "benchmarks" / "work" / "compose_evidence"


def arm_recipe(name: str, compose: dict | None, seed: int = 0):
    from curate.recipe import Recipe
    evals = [str(SHARED / "chain_of_instructions/test/*.json"), str(SHARED / "instruction_induction/raw/execute/*.json")]
    steps = [{"use": "normalize.text"},
             {"use": "filter.length", "with": {"field": "response", "unit": "words", "min": 2}},
             {"use": "dedup.exact"},
             {"use": "filter.decontaminate", "with": {"evals": evals}}]
    if compose:
        steps.append(compose)
    return Recipe(name=f"compose-evidence-{name}", seed=seed, steps=steps, inputs=[
        {"path": str(SHARED / "llamafactory_demo/alpaca_en_demo.json"), "source": "alpaca"},
        {"path": str(SHARED / "lima/lima.json"), "source": "lima"}])


def rescore(compare_dir: Path, seeds: int, suite: str, scorer: str) -> dict:
    """Paired bootstrap of a compare's two arms on `suite`'s saved predictions, scored anew."""
    import numpy as np
    import polars as pl
    from curate.evals.compare import bootstrap_diff
    from curate.evals.scorers import SCORERS
    from curate.evals.suites import suite_dirname
    matrices = []
    for arm in ("baseline", "treatment"):
        rows = []
        for seed in range(seeds):
            frame = pl.read_parquet(compare_dir / arm / f"seed-{seed}" / suite_dirname(suite) /
                                    "predictions.parquet").sort("id")
            rows.append([SCORERS[scorer](p, list(r)) for p, r in zip(frame["prediction"], frame["answers"])])
        matrices.append(np.array(rows))
    return bootstrap_diff(*matrices)


def reeval(compare_dir: Path, seeds: int, suite: str, limit: int, batch_size: int) -> dict:
    """Evaluate a finished compare's adapters on more items of `suite` (more power, no retraining)."""
    from curate.evals.compare import bootstrap_diff, oriented, scores_matrix
    from curate.evals.run import evaluate
    from curate.evals.suites import suite_dirname
    from curate.models.bundled import SMOLLM2
    dirs = {}
    for arm in ("baseline", "treatment"):
        dirs[arm] = []
        for seed in range(seeds):
            run = compare_dir / arm / f"seed-{seed}"
            target = run / f"{suite_dirname(suite)}-n{limit}"
            if not (target / "summary.json").is_file():
                evaluate(SMOLLM2, suite, target, adapter=str(run / "train" / "adapter"), limit=limit,
                         batch_size=batch_size)
            dirs[arm].append(target)
    lower = json.loads((dirs["baseline"][0] / "summary.json").read_text()).get("lower_is_better", False)
    return oriented(bootstrap_diff(scores_matrix(dirs["baseline"])[0], scores_matrix(dirs["treatment"])[0]), lower)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=40000, help="training tokens per run (equal for every arm)")
    ap.add_argument("--ratio", type=float, default=0.5, help="share of records given a composed version")
    ap.add_argument("--arms", default="sit,coi")
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seq-limit", type=int, default=10, help="ii-sequential items per task")
    ap.add_argument("--coi-limit", type=int, default=30, help="CoI test items per test file")
    ap.add_argument("--single-limit", type=int, default=10, help="ii-single items per task")
    ap.add_argument("--eval-batch", type=int, default=16)
    ap.add_argument("--suites", default="ii-sequential,coi,ii-single",
                    help="suites to evaluate every adapter on; the -loss suites (ref_loss, no generation) re-ask "
                         "the same items with the log-likelihood instrument")
    ap.add_argument("--work", default=str(WORK))
    ap.add_argument("--export-runs", help="build the arms' datasets, copy them (final.parquet, manifest.json) "
                                          "to this folder and stop: for a machine without ../shared or DuckDB")
    ap.add_argument("--reuse-baseline", help="a finished compare folder whose baseline arm (same budget and "
                                             "training settings) this run reuses, e.g. when only the ratio changes")
    ap.add_argument("--more-items", type=int, help="only: evaluate the finished arms' adapters on this many "
                                                   "items per group of --more-suite, and report")
    ap.add_argument("--more-suite", default="ii-sequential", help="the suite --more-items evaluates")
    ap.add_argument("--prebuilt", help="a folder written by --export-runs: train on those datasets")
    args = ap.parse_args()
    from curate import run
    from curate.evals.compare import compare
    from curate.evals.suites import suite_dirname
    from curate.models.bundled import SMOLLM2
    work = Path(args.work)
    composes = {"sit": {"use": "compose.sequential", "with": {"ratio": args.ratio}},
                "coi": {"use": "compose.chain", "with": {"ratio": args.ratio, "lengths": [2, 3]}}}
    started = time.perf_counter()
    if args.prebuilt:
        from curate.runner import RunResult
        data = {name: RunResult(Path(args.prebuilt) / name) for name in ["base"] + args.arms.split(",")}
    else:
        data = {"base": run(arm_recipe("base", None), out=work / "runs")}
        for arm in args.arms.split(","):
            data[arm] = run(arm_recipe(arm, composes[arm]), out=work / "runs")
    if args.export_runs:
        import shutil
        for name, result in data.items():
            target = Path(args.export_runs) / name
            target.mkdir(parents=True, exist_ok=True)
            for f in ("final.parquet", "manifest.json"):
                shutil.copyfile(result.dir / f, target / f)
        print(f"datasets copied to {args.export_runs}")
        return
    for name, result in data.items():
        m = result.manifest
        print(f"{name}: {m['rows']['read']} read, {m['rows']['final']} records "
              f"({m['rows']['added']} composed), {result.dir}")
    suites = args.suites.split(",")
    per_family = {"ii-sequential": args.seq_limit, "coi": args.coi_limit, "ii-single": args.single_limit}
    limits = {s: per_family[s.removesuffix("-loss")] for s in suites}
    options = {"max_len": args.max_len, "batch_size": args.batch_size, "lr": args.lr}
    tag = f"budget{args.budget}-ratio{args.ratio}-lr{args.lr:g}"
    if args.more_items:
        for arm in args.arms.split(","):
            r = reeval(work / tag / arm, args.seeds, args.more_suite, args.more_items, args.eval_batch)
            print(f"{arm} {args.more_suite}, {r['items']} items: {r['baseline']:.4f} -> {r['treatment']:.4f}, "
                  f"{r['diff']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}] {r['verdict']}, detectable {r['detectable']}")
            (work / tag / arm / f"{args.more_suite}-n{args.more_items}.json").write_text(json.dumps(r, indent=2))
        return
    results = {}
    first_out = None
    for arm in args.arms.split(","):
        out = work / tag / arm
        out.mkdir(parents=True, exist_ok=True)
        if first_out is not None and not (out / "baseline").exists():
            os.symlink(first_out / "baseline", out / "baseline")       # the baseline arm is shared
        elif first_out is None and args.reuse_baseline and not (out / "baseline").exists():
            os.symlink(Path(args.reuse_baseline).resolve() / "baseline", out / "baseline")
        first_out = first_out or out
        results[arm] = compare(str(data["base"].dir), str(data[arm].dir), suites, out, SMOLLM2, seeds=args.seeds,
                               max_tokens=args.budget, limit=limits, train_options=options, progress=False,
                               batch_size=args.eval_batch)
    for arm in args.arms.split(",") if "coi" in suites else []:   # the CoI answers' content, labels removed
        results[arm]["coi, labels removed (rouge_l_content)"] = rescore(work / tag / arm, args.seeds, "coi",
                                                                        "rouge_l_content")
    steps = {}
    for arm in ["baseline"] + args.arms.split(",") if "ii-sequential" in suites else []:
        folder = (first_out if arm == "baseline" else work / tag / arm) / ("baseline" if arm == "baseline" else "treatment")
        sums = [json.loads((folder / f"seed-{s}" / suite_dirname("ii-sequential") / "summary.json").read_text())
                for s in range(args.seeds)]
        steps[arm] = {k: round(sum(s["steps"][k] for s in sums) / len(sums), 4) for k in sums[0]["steps"]}
        steps[arm]["all_steps"] = round(sum(s["all_steps"] for s in sums) / len(sums), 4)
    summary = {"args": vars(args), "results": results, "ii_sequential_steps": steps,
               "seconds": round(time.perf_counter() - started, 1)}
    (work / tag / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{'arm':<5} {'suite':<48} {'base':>7} {'treat':>7} {'diff':>8}  95% interval       verdict")
    for arm, res in results.items():
        for suite, r in res.items():
            print(f"{arm:<5} {suite:<48} {r['baseline']:>7.3f} {r['treatment']:>7.3f} {r['diff']:>+8.3f}  "
                  f"[{r['low']:+.3f}, {r['high']:+.3f}]  {r['verdict']}")
    print("ii-sequential per step (mean over seeds):", json.dumps(steps))
    print(f"total {summary['seconds']} s; reports: {work / tag}/<arm>/report.md")


if __name__ == "__main__":
    main()
