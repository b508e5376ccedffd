"""Benchmark: token scoring (score.token_quality's forward passes) against training, per token.

On the Alpaca demo + LIMA records (response tokens inside SmolLM2's chat template, as the step
reads them), in one process on this machine:

    padded fp32    loglik.continuation_logprobs, the eval's padded batches (the step's old path)
    packed fp32    models.packed_scoring: packed rows, the head at response positions only
    packed auto    the same in the precision `dtype: auto` picks here (bf16 where it measures faster)
    train          `curate train` at its defaults on the same records, tokens per second

Prints tokens (prompt + response) per second of each, the ratio of scoring to training (the
issue's target: at least 2x), and how far the precision moves the scores: the per-token score
differences (loss_base - loss_ref, a LoRA adapter as the reference) of packed auto against packed
fp32, and the share of tokens whose keep/drop decision (global top 60%) is the same.

    python benchmarks/token_scoring_speed.py [--records 400] [--reference ADAPTER]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CURATE_DATA", str(ROOT.parent / "shared" / "data"))
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "benchmarks" / "work" / "token_scoring_speed"


def records(n: int) -> list[dict]:
    import polars as pl
    from curate.io.load import load_records
    frame = pl.concat([load_records(str(SHARED / "llamafactory_demo" / "alpaca_en_demo.json")),
                       load_records(str(SHARED / "lima" / "lima.json"))], how="diagonal_relaxed")
    frame = frame.filter(pl.col("response").str.len_chars() > 0).sample(n=n, shuffle=True, seed=0)
    return [{"id": str(i), "instruction": r["instruction"] or "", "context": r.get("context") or "",
             "response": r["response"]} for i, r in enumerate(frame.to_dicts())]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=400)
    ap.add_argument("--reference", help="a LoRA adapter over SmolLM2 (default: one trained here on 8k tokens)")
    args = ap.parse_args()
    from curate.quiet import quiet_third_party
    quiet_third_party()
    import numpy as np
    from curate.models.bundled import SMOLLM2
    from curate.models.greedy import fit_window
    from curate.models.lm import load_for_eval, load_model, load_tokenizer
    from curate.models.loglik import continuation_logprobs
    from curate.models.machine import training_dtype
    from curate.models.packed_scoring import packed_continuation_logprobs
    from curate.steps.score.token_quality import _response_tokens, _select
    from curate.train.config import TrainConfig
    from curate.train.loop import Trainer
    WORK.mkdir(parents=True, exist_ok=True)
    rows = records(args.records)
    data = WORK / "records.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tok = load_tokenizer(SMOLLM2)
    items, _ = _response_tokens(tok, rows)
    keys = [k for k in items if len(items[k][1]) < 2048]       # as the step leaves longer responses unscored
    prompts, _ = fit_window([items[k][0] for k in keys], [len(items[k][1]) for k in keys], 2048)
    pairs = list(zip(prompts, [items[k][1] for k in keys]))
    tokens = sum(len(p) + len(c) for p, c in pairs)
    auto = training_dtype("auto", "cpu")
    print(f"{len(pairs)} records, {tokens:,} tokens ({sum(len(c) for _, c in pairs):,} response); auto = {auto}")

    base = load_model(SMOLLM2).eval()
    timings, scores = {}, {}
    for name, fn in (("padded fp32", lambda m: continuation_logprobs(m, tok.pad_token_id, pairs)),
                     ("packed fp32", lambda m: packed_continuation_logprobs(m, pairs, "fp32")),
                     (f"packed auto ({auto})", lambda m: packed_continuation_logprobs(m, pairs, auto))):
        start = time.perf_counter()
        scores[name] = fn(base)
        timings[name] = time.perf_counter() - start
        print(f"{name:<22} {timings[name]:>7.1f} s {tokens / timings[name]:>8.0f} tok/s", flush=True)

    train_out = WORK / "train"
    shutil.rmtree(train_out, ignore_errors=True)
    start = time.perf_counter()
    summary = Trainer(TrainConfig(data=str(data), out=str(train_out), max_tokens=min(tokens, 16384)),
                      progress=False).run()
    train_rate = summary["tokens"] / (time.perf_counter() - start)
    print(f"{'train (defaults, ' + summary['dtype'] + ')':<22} {summary['tokens'] / train_rate:>7.1f} s "
          f"{train_rate:>8.0f} tok/s (model load included)")
    reference = args.reference or str(train_out / "adapter")

    ref, _ = load_for_eval(SMOLLM2, reference, "cpu")
    diffs = {}
    for name, dtype in (("fp32", "fp32"), (auto, auto)):
        lp = packed_continuation_logprobs(ref, pairs, dtype)
        base_lp = scores["packed fp32"] if dtype == "fp32" else scores[f"packed auto ({auto})"]
        diffs[name] = {k: (r - b).astype(np.float64) for k, r, b in zip(keys, lp, base_lp)}
    a, b = (np.concatenate(list(d.values())) for d in diffs.values())
    same = np.mean(np.concatenate(list(_select(diffs["fp32"], 0.6, "global").values()))
                   == np.concatenate(list(_select(diffs[auto], 0.6, "global").values())))
    result = {"records": len(pairs), "tokens": tokens, "auto": auto,
              "tok_per_s": {k: tokens / v for k, v in timings.items()}, "train_tok_per_s": train_rate,
              "score_diff_corr": float(np.corrcoef(a, b)[0, 1]), "score_abs_diff_median": float(np.median(abs(a - b))),
              "same_keep_decision": float(same)}
    for k, v in result["tok_per_s"].items():
        print(f"{k:<22} scoring / training = {v / train_rate:.2f}x")
    print(f"scores {auto} vs fp32: correlation {result['score_diff_corr']:.4f}, median |difference| "
          f"{result['score_abs_diff_median']:.4f} nats; same keep/drop decision for {100 * same:.1f}% of tokens")
    (WORK / "results.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
