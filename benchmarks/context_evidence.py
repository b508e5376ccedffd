"""Verification of context-dependency tagging with the conditional indicator ([IND]) by training:
does marking the records whose responses read the user's passage make the bundled SmolLM2 follow a
given passage when asked to (the indicator at test time), at the same token budget?

Arms, both from recipes/context.yaml (the Alpaca demo + three passage-based P3 sets, tidied,
deduplicated, decontaminated against XQuAD):
    plain   = the mix as it is (the recipe without tag.context_dependency and mark.context_indicator)
    marked  = the same records, the top 15% by the attention probe with " [IND]" on their user turn
`curate compare` trains LoRA on each arm with `--seeds` seeds at `--budget` tokens each and
evaluates every adapter on each suite with and without the indicator:
    conflictqa-choice[-ind]  a counter-memory passage: the passage's answer against the memory
                             answer, two options by log-likelihood (acc)
    conflictqa[-ind]         the same items, generated yes/no, faithfulness
    xquad-contains[-ind]     XQuAD-en, generated, the paper's metric (the reference span appears)
    xquad-loss[-ind]         XQuAD-en, per-token loss of the reference span (a finer instrument)
    ii-single-loss           Instruction-Induction single-step answers' loss (regressions)
Besides the arm-against-arm table on each suite, "deployed" pairs the way the paper uses the
model: the marked arm with the indicator against the plain arm without it, on the same items.

    python benchmarks/context_evidence.py [--seeds 3] [--budget 40000]
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
WORK = ROOT / "benchmarks" / "work" / "context_evidence"
SUITES = ROOT / "recipes" / "suites"
# (plain suite, the same items with the indicator, items per group)
# (sized to an hour of evaluation on a 2-core CPU: 6 adapters, every suite twice; more on a GPU)
PAIRS = {"conflictqa-choice": (str(SUITES / "conflictqa-choice-ind.yaml"), 120),
         "conflictqa": (str(SUITES / "conflictqa-ind.yaml"), 40),
         "xquad-contains": (str(SUITES / "xquad-contains-ind.yaml"), 30),
         "xquad-loss": (str(SUITES / "xquad-loss-ind.yaml"), 60)}
GENERAL = {"ii-single-loss": 5}


def arm_recipes():
    """(plain, marked): recipes/context.yaml, and the same without its two context steps."""
    from curate.recipe import Recipe
    marked = Recipe.load(ROOT / "recipes" / "context.yaml")
    context_steps = {"tag.context_dependency", "mark.context_indicator"}
    plain = marked.model_copy(update={"name": "context-plain",
                                      "steps": [s for s in marked.steps if s.use not in context_steps]})
    return plain, marked


def deployed(compare_dir: Path, seeds: int, plain_suite: str, ind_suite: str) -> dict:
    """The marked arm asked with the indicator against the plain arm asked without it."""
    from curate.evals.compare import bootstrap_diff, oriented, scores_matrix
    from curate.evals.suites import suite_dirname
    base = [compare_dir / "baseline" / f"seed-{s}" / suite_dirname(plain_suite) for s in range(seeds)]
    treat = [compare_dir / "treatment" / f"seed-{s}" / suite_dirname(ind_suite) for s in range(seeds)]
    b, ids_b = scores_matrix(base)
    t, ids_t = scores_matrix(treat)
    if ids_b != ids_t:
        raise SystemExit(f"{plain_suite} and {ind_suite} were scored on different items")
    lower = json.loads((base[0] / "summary.json").read_text()).get("lower_is_better", False)
    return oriented(bootstrap_diff(b, t), lower)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=40000, help="training tokens per run (equal for both arms)")
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-batch", type=int, default=16)
    ap.add_argument("--suites", default=",".join(PAIRS), help="which of the paired suites to evaluate")
    ap.add_argument("--items-scale", type=float, default=1.0, help="multiply every suite's item count")
    ap.add_argument("--work", default=str(WORK))
    ap.add_argument("--marked", help="a finished run of recipes/context.yaml to use as the marked arm "
                                     "(default: run the recipe here)")
    args = ap.parse_args()
    os.chdir(ROOT)                         # the recipe names its inputs as ../shared/data/...
    from curate.quiet import quiet_third_party
    quiet_third_party()
    from curate import run
    from curate.evals.compare import compare
    from curate.models.bundled import SMOLLM2
    work = Path(args.work)
    started = time.perf_counter()
    plain_recipe, marked_recipe = arm_recipes()
    plain = run(plain_recipe, out=work / "runs")
    if args.marked:
        from curate.runner import RunResult
        marked = RunResult(Path(args.marked).resolve())
    else:
        marked = run(marked_recipe, out=work / "runs")
    for name, result in (("plain", plain), ("marked", marked)):
        m = result.manifest
        print(f"{name}: {m['rows']['read']} read, {m['rows']['final']} records, {result.dir}")
    tag_stats = next(s["stats"] for s in marked.manifest["stages"] if s["step"] == "tag.context_dependency")
    print("tagged:", tag_stats.get("tagged"), "cutoff", tag_stats.get("cutoff"), "share by source",
          json.dumps(tag_stats.get("tagged_share_by_source")))
    chosen = [s for s in args.suites.split(",") if s]
    suites, limits = [], {}
    for name in chosen:
        ind, n = PAIRS[name]
        n = max(1, int(n * args.items_scale))
        suites += [name, ind]
        limits.update({name: n, ind: n})
    suites += list(GENERAL)
    limits.update({name: max(1, int(n * args.items_scale)) for name, n in GENERAL.items()})
    options = {"max_len": args.max_len, "batch_size": args.batch_size, "lr": args.lr}
    out = work / f"budget{args.budget}-lr{args.lr:g}"
    results = compare(str(plain.dir), str(marked.dir), suites, out, SMOLLM2, seeds=args.seeds,
                      max_tokens=args.budget, limit=limits, train_options=options, progress=False,
                      batch_size=args.eval_batch)
    deploy = {name: deployed(out, args.seeds, name, PAIRS[name][0]) for name in chosen}
    summary = {"args": vars(args), "tagging": tag_stats, "results": results, "deployed": deploy,
               "seconds": round(time.perf_counter() - started, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{'suite (marked - plain)':<40} {'plain':>7} {'marked':>7} {'diff':>7}  95% interval     MDE  verdict")
    rows = [(Path(k).stem if k.endswith(".yaml") else k, r) for k, r in results.items()]
    rows += [(f"deployed {k}: marked+IND vs plain", r) for k, r in deploy.items()]
    for name, r in rows:
        print(f"{name[:40]:<40} {r['baseline']:>7.3f} {r['treatment']:>7.3f} {r['diff']:>+7.3f}  "
              f"[{r['low']:+.3f}, {r['high']:+.3f}] {r['detectable']:.3f}  {r['verdict']}")
    print(f"total {summary['seconds']} s; report: {out}/report.md")


if __name__ == "__main__":
    main()
