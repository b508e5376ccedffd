"""Verification of predictive data selection by training: at equal token budgets, does the
PreSelect subset of a real pool train a better model than a random subset of the same share, a
perplexity-filter subset (lowest response loss under the base model), an IFD subset (Cherry:
the highest instruction-following difficulty below 1) and the whole pool?

The pool: `--pool` records drawn (seeded) from recipes/preselect.yaml's inputs after its cleaning
steps (P3 prompted tasks, Alpaca, LIMA, GSM8K). The probe family comes from `curate probes` on
`--probe-suite` (built here when `--probes` is not given: the bundled SmolLM2 and one LoRA run on
LIMA continued through four budgets). Every subset keeps the same share of the pool's characters
(`--share`, the paper's 10%); each is compared with the random subset by `curate compare`, on the
suite the probes were scored on and on one they never saw, with 95% intervals and minimum
detectable differences. Also reported: the classifier's held-out precision, how many records
reached strength 1.0, and the seconds the probes and the classifier took.

    python benchmarks/preselect_evidence.py [--pool 2000] [--sample 500] [--seeds 3] [--budget 30000]
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
os.environ.setdefault("CURATE_DATA", str(SHARED))
WORK = ROOT / "benchmarks" / "work" / "preselect_evidence"


def arm_recipes(pool: int, sample: int, share: float, probes: str) -> dict:
    """Every arm: the recipe's cleaning steps, a seeded draw of `pool` records, then its selection."""
    from curate.recipe import Recipe, StepUse
    recipe = Recipe.load(ROOT / "recipes" / "preselect.yaml")
    k = next(i for i, s in enumerate(recipe.steps) if s.use == "score.predictive_strength")
    cleaning = list(recipe.steps[:k]) + [StepUse.model_validate({"use": "select.sample", "with": {"n": pool}})]
    ifd = {"use": "score.ifd", "with": {"max_tokens": 1024, "max_response_tokens": 256}}
    top = {"char_fraction": share}
    arms = {
        "full": [],
        "random": [{"use": "select.sample", "with": {"fraction": share}}],
        "preselect": [{"use": "score.predictive_strength", "with": {"probes_file": probes, "sample": sample,
                                                                    "max_tokens": 256}},
                      {"use": "select.preselect", "with": top}],
        "perplexity": [ifd, {"use": "select.top", "with": {"column": "score_response_loss", "ascending": True, **top}}],
        "ifd": [ifd, {"use": "filter.where", "with": {"expr": "score_ifd < 1", "reason": "ifd_above_1"}},
                {"use": "select.top", "with": {"column": "score_ifd", **top}}],
    }
    return {name: recipe.model_copy(update={"name": f"preselect-{name}", "steps": cleaning + [
        StepUse.model_validate(step) for step in extra]}) for name, extra in arms.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--sample", type=int, default=500, help="records the probes score")
    ap.add_argument("--share", type=float, default=0.1, help="share of the pool's characters each subset keeps")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=30000, help="training tokens per run (equal for every arm)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--probes", help="a probes YAML from `curate probes` (default: build one here)")
    ap.add_argument("--probe-suite", default="ii-single-loss")
    ap.add_argument("--unseen-suite", default="xquad-loss:en")
    ap.add_argument("--work", default=str(WORK))
    args = ap.parse_args()
    os.chdir(ROOT)
    from curate.quiet import quiet_third_party
    quiet_third_party()
    from curate import run
    from curate.evals.compare import compare
    from curate.evals.probe_family import build_family
    from curate.models.bundled import SMOLLM2
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    probes = args.probes or str(work / "probes.yaml")
    if not args.probes:
        t = time.perf_counter()
        build_family(args.probe_suite, probes, SMOLLM2, str(SHARED / "lima" / "lima.json"),
                     (4000, 8000, 16000, 32000), items=20, progress=True)
        print(f"probe family: {time.perf_counter() - t:.0f} s")
    recipes = arm_recipes(args.pool, args.sample, args.share, probes)
    runs, seconds = {}, {}
    for name, recipe in recipes.items():
        t = time.perf_counter()
        runs[name] = run(recipe, out=work / "runs")
        seconds[name] = round(time.perf_counter() - t, 1)
        m = runs[name].manifest
        print(f"{name}: {m['rows']['final']} records of {m['rows']['read']} read ({seconds[name]} s)")
    stage = {s["step"]: s for s in runs["preselect"].manifest["stages"]}
    strength, chosen = stage["score.predictive_strength"], stage["select.preselect"]
    print(f"strength 1.0: {chosen['stats']['at_strength_1']} of {strength['stats']['scored']} scored; classifier "
          f"held out {chosen['stats']['held_out']}; probes {strength.get('seconds')} s, "
          f"classifier step {chosen.get('seconds')} s")
    options = {"max_len": 1024, "batch_size": 4, "lr": args.lr}
    suites = [args.probe_suite, args.unseen_suite]
    limits = {args.probe_suite: 5, args.unseen_suite: 60}
    summary = {"args": vars(args), "run_seconds": seconds, "strength": strength["stats"],
               "preselect": chosen["stats"], "arms": {}}
    print(f"\n{'arm - random':<22} {'suite':<16} {'random':>8} {'arm':>8} {'diff':>8}  95% interval        MDE  "
          "verdict")
    for name in ("preselect", "perplexity", "ifd", "full"):
        out = work / f"{name}-vs-random-budget{args.budget}"
        results = compare(str(runs["random"].dir), str(runs[name].dir), suites, out, SMOLLM2, seeds=args.seeds,
                          max_tokens=args.budget, limit=limits, train_options=options, progress=False)
        summary["arms"][name] = results
        for suite, r in results.items():
            print(f"{name:<22} {suite[:16]:<16} {r['baseline']:>8.4f} {r['treatment']:>8.4f} {r['diff']:>+8.4f}  "
                  f"[{r['low']:+.4f}, {r['high']:+.4f}] {r['detectable']:.4f}  {r['verdict']}")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"total {summary['seconds']} s; {work}")


if __name__ == "__main__":
    main()
