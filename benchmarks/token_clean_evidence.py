"""Verification of token cleaning by training: at the same records and the same steps, does
training on the 60% of response tokens a warmed-up reference improves most beat training on every
token, and on a random 60%? (Pang et al.'s direction: cleaned >= full > random.)

Arms, from recipes/token-clean.yaml (the Alpaca demo, tidied and deduplicated):
    full      the records as they are (no loss_mask)
    random    mode: random, the same 60% share (the paper's control)
    cleaned   the reference: SmolLM2 after a warm-up on LIMA (trained in the step, cached)
    evolving  the self-evolving variant, rounds: 3
Each masked arm is compared with `full`, and the scored arms with `random`, by `curate compare`
(an arm is trained once and reused from the cache), `--seeds` seeds at `--budget` tokens, on log-likelihood suites and one
generation suite, with 95% intervals and minimum detectable differences. Also: the token-level
sanity table (most and least kept tokens) and a sample with dropped tokens struck through.

    python benchmarks/token_clean_evidence.py [--seeds 3] [--budget 40000]
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
WORK = ROOT / "benchmarks" / "work" / "token_clean_evidence"
SUITES = {"ii-single-loss": 5, "xquad-loss:en": 60, "ii-execute": 4}


def arm_recipes() -> dict:
    from curate.recipe import Recipe
    cleaned = Recipe.load(ROOT / "recipes" / "token-clean.yaml")
    k = next(i for i, s in enumerate(cleaned.steps) if s.use == "score.token_quality")
    tq = cleaned.steps[k]

    def variant(name: str, **change):
        steps = list(cleaned.steps)
        settings = {key: v for key, v in {**tq.with_, **change}.items() if v is not None}
        steps[k] = tq.model_copy(update={"with_": settings})
        return cleaned.model_copy(update={"name": f"token-clean-{name}", "steps": steps})
    full = cleaned.model_copy(update={"name": "token-clean-full", "steps": cleaned.steps[:k]})
    return {"full": full, "random": variant("random", mode="random", warmup=None),
            "cleaned": cleaned, "evolving": variant("evolving", warmup=None, rounds=3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=40000, help="training tokens per run (equal for every arm)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--arms", default="random,cleaned,evolving")
    ap.add_argument("--work", default=str(WORK))
    args = ap.parse_args()
    os.chdir(ROOT)
    from curate.quiet import quiet_third_party
    quiet_third_party()
    from curate import run
    from curate.evals.compare import compare
    from curate.explore.token_masks import format_table, highlighted, kept_tokens
    from curate.models.bundled import SMOLLM2
    from curate.models.lm import load_tokenizer
    work = Path(args.work)
    started = time.perf_counter()
    recipes = arm_recipes()
    runs = {name: run(recipes[name], out=work / "runs") for name in ["full"] + args.arms.split(",")}
    options = {"max_len": 1024, "batch_size": 4, "lr": args.lr}
    summary = {"args": vars(args), "arms": {}}
    # each cleaned arm against every token, then the scored arms against the random control
    pairs = [("full", name) for name in runs if name != "full"]
    pairs += [("random", name) for name in ("cleaned", "evolving") if "random" in runs and name in runs]
    for control, name in pairs:
        result = runs[name]
        stats = next(s["stats"] for s in result.manifest["stages"] if s["step"] == "score.token_quality")
        out = work / f"{name}-vs-{control}-budget{args.budget}"
        results = compare(str(runs[control].dir), str(result.dir), list(SUITES), out, SMOLLM2, seeds=args.seeds,
                          max_tokens=args.budget, limit=SUITES, train_options=options, progress=False)
        summary["arms"][f"{name} vs {control}"] = {"stats": stats, "results": results}
        print(f"\n{name} - {control}: kept {stats['tokens_kept']:,} of {stats['response_tokens']:,} response tokens")
        print(f"{'suite':<18} {control:>8} {name:>8} {'diff':>8}  95% interval        MDE  verdict")
        for suite, r in results.items():
            print(f"{suite[:18]:<18} {r['baseline']:>8.4f} {r['treatment']:>8.4f} {r['diff']:>+8.4f}  "
                  f"[{r['low']:+.4f}, {r['high']:+.4f}] {r['detectable']:.4f}  {r['verdict']}")
    if "cleaned" in runs:
        table = kept_tokens(runs["cleaned"].dir, SMOLLM2)
        print("\nmost and least kept response tokens (cleaned arm):\n" + format_table(table))
        record = runs["cleaned"].final().drop_nulls("loss_mask").row(0, named=True)
        page = highlighted(record["response"], record["loss_mask"], load_tokenizer(SMOLLM2))
        (work / "sample.html").write_text(f"<p><b>{record['instruction']}</b></p><p>{page}</p>", encoding="utf-8")
        summary["kept_tokens"] = table.to_dicts()
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"total {summary['seconds']} s; {work}")


if __name__ == "__main__":
    main()
