"""Benchmark: `curate train` at its defaults against the LoRA script a new user writes with Hugging
Face `Trainer` + PEFT (benchmarks/hf_trainer_baseline.py: padding collator, the same LoRA targets,
rank and learning rate, one epoch), each run as the whole command a user types (model load
included), on three data shapes from ../shared/data:

    short   Self-Instruct seed and user-oriented tasks: short, uniform records
    mix     the Alpaca demo + LIMA, sampled: short and long together
    long    LIMA's longest records: every example fills a 1024-token row

Reported per shape: wall seconds, trained tokens (prompt + response, no pad) per second, the
ratio, and the share of this CPU's fp32 matmul peak, measured here with a GEMM (LoRA training
costs about 4 x parameters FLOPs per token: forward, and backward through the frozen weights
without their gradients). Then peak memory of `curate train` at max_len 1024 and 2048 with the
loss at supervised positions only and with full logits (`loss_at: full_logits`, the old path).
Also batched eval generation against one-prompt-at-a-time `generate` (`--only generation`).

    python benchmarks/train_speed.py [--shapes short,mix,long] [--tokens 20000]
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
WORK = ROOT / "benchmarks" / "work" / "train_speed"
PYTHON = sys.executable


def gemm_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 matmul throughput of this machine at torch's thread count: the best of `repeats`
    n x n x n products (measured, not assumed from a CPU model)."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def shape_records(shape: str, tokens: int, tokenizer) -> list[dict]:
    """About `tokens` tokens of records of one shape, as alpaca rows (instruction, input, output)."""
    import polars as pl
    from curate.io.load import load_records
    if shape == "short":
        frame = pl.concat([load_records(str(SHARED / "self_instruct" / f)) for f in
                           ("seed_tasks.jsonl", "user_oriented_instructions.jsonl")], how="diagonal_relaxed")
    elif shape == "mix":
        frame = pl.concat([load_records(str(SHARED / "llamafactory_demo" / "alpaca_en_demo.json")),
                           load_records(str(SHARED / "lima" / "lima.json"))], how="diagonal_relaxed").sample(
            fraction=1.0, shuffle=True, seed=0)
    else:
        frame = load_records(str(SHARED / "lima" / "lima.json")).with_columns(
            pl.col("response").str.len_chars().alias("_n")).sort("_n", descending=True)
    if "history" in frame.columns:                  # the baseline script renders one turn
        frame = frame.filter(pl.col("history").is_null())
    out, total = [], 0
    for r in frame.to_dicts():
        if not (r.get("response") or "").strip():
            continue
        n = len(tokenizer((r["instruction"] or "") + (r.get("context") or "") + r["response"])["input_ids"])
        out.append({"instruction": r["instruction"] or "", "input": r.get("context") or "", "output": r["response"]})
        total += min(n + 12, 1024)
        if total >= tokens:
            break
    return out


def run_command(cmd: list[str], log: Path) -> dict:
    from measure import measure
    result = measure(cmd, cwd=str(ROOT), log=str(log))
    if result["exit"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed; see {log}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="short,mix,long")
    ap.add_argument("--tokens", type=int, default=20000, help="tokens of data per shape (one epoch each)")
    ap.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                    help="also peak memory at max_len 1024 and 2048")
    ap.add_argument("--prompts", type=int, default=96)
    ap.add_argument("--only", choices=["train", "generation"], help="run one half")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    WORK.mkdir(parents=True, exist_ok=True)
    results = {}
    if args.only != "generation":
        train_speed(args, results)
    if args.only != "train":
        from curate.models.bundled import SMOLLM2
        from curate.models.lm import load_tokenizer
        generation_speed(args, load_tokenizer(SMOLLM2), results)
    (WORK / "results.json").write_text(json.dumps(results, indent=2))


def train_speed(args, results) -> None:
    import torch
    from curate.models.bundled import SMOLLM2
    from curate.models.lm import load_model, load_tokenizer, resolve
    tokenizer = load_tokenizer(SMOLLM2)
    plain = resolve(SMOLLM2)                        # the plain copy curate saves once: what HF loads
    params = sum(p.numel() for p in load_model(SMOLLM2).parameters())
    peak = gemm_peak_gflops()
    print(f"fp32 GEMM peak measured here: {peak:.0f} GFLOP/s at {torch.get_num_threads()} threads; "
          f"{params / 1e6:.1f}M parameters")
    print(f"{'shape':<7} {'trainer':<26} {'s':>7} {'tokens':>7} {'tok/s':>7} {'x':>5} {'% peak':>7}")
    for shape in args.shapes.split(","):
        rows = shape_records(shape, args.tokens, tokenizer)
        data = WORK / f"{shape}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        hf_out, cu_out = WORK / f"{shape}-hf", WORK / f"{shape}-curate"
        import shutil
        shutil.rmtree(cu_out, ignore_errors=True)
        hf = run_command([PYTHON, str(ROOT / "benchmarks" / "hf_trainer_baseline.py"), str(data), plain, str(hf_out)],
                         WORK / f"{shape}-hf.log")
        hf_tokens = json.loads((WORK / f"{shape}-hf.log").read_text().strip().splitlines()[-1])["tokens"]
        cu = run_command([str(Path(PYTHON).parent / "curate"), "train", str(data), "--out", str(cu_out), "-q"],
                         WORK / f"{shape}-curate.log")
        cu_tokens = json.loads((cu_out / "summary.json").read_text())["tokens"]
        entry = {}
        for name, r, tokens in (("HF Trainer + PEFT", hf, hf_tokens), ("curate train (defaults)", cu, cu_tokens)):
            rate = tokens / r["seconds"]
            entry[name] = {"seconds": r["seconds"], "tokens": tokens, "tokens_per_s": rate,
                           "peak_rss_gib": r["peak_rss_gib"], "peak_share": 4 * params * rate / (peak * 1e9)}
        base = entry["HF Trainer + PEFT"]["tokens_per_s"]
        for name, e in entry.items():
            e["speedup"] = e["tokens_per_s"] / base
            print(f"{shape:<7} {name:<26} {e['seconds']:>7.1f} {e['tokens']:>7} {e['tokens_per_s']:>7.1f} "
                  f"{e['speedup']:>5.2f} {100 * e['peak_share']:>6.1f}%")
        results[shape] = {"records": len(rows), **entry}
    if args.memory:
        memory(results)


def memory(results) -> None:
    """Peak RSS of a short `curate train` at max_len 1024 and 2048, both loss paths."""
    rows = [{"instruction": "Write a long essay.", "input": "", "output": ("word " * 3000).strip()}] * 8
    data = WORK / "long-rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{'max_len':>7} {'loss at':<22} {'peak RSS GiB':>12} {'s':>7}")
    results["memory"] = {}
    for max_len in (1024, 2048):
        for loss_at in ("full_logits", "auto"):
            code = ("from curate.quiet import quiet_third_party; quiet_third_party()\n"
                    "from curate.train.config import TrainConfig\nfrom curate.train.loop import Trainer\n"
                    f"Trainer(TrainConfig(data={str(data)!r}, out={str(WORK / f'mem-{max_len}-{loss_at}')!r}, "
                    f"max_len={max_len}, max_tokens={4 * max_len}, loss_at={loss_at!r}), progress=False).run()")
            import shutil
            shutil.rmtree(WORK / f"mem-{max_len}-{loss_at}", ignore_errors=True)
            r = run_command([PYTHON, "-c", code], WORK / f"mem-{max_len}-{loss_at}.log")
            name = "supervised positions" if loss_at == "auto" else "full logits"
            print(f"{max_len:>7} {name:<22} {r['peak_rss_gib']:>12.2f} {r['seconds']:>7.1f}")
            results["memory"][f"{max_len} {name}"] = r


def generation_speed(args, tok, results) -> None:
    import torch
    from curate.models.bundled import SMOLLM2
    from curate.models.lm import load_model

    # -- eval generation: batched vs one prompt at a time ------------------------------------------
    from curate.models.greedy import generate
    from curate.evals.run import suite_records
    from curate.evals.suites import builtin
    from curate.records import to_messages
    spec = builtin("ii-execute:sum,first_word_letter,singular_to_plural,num_to_verbal")
    items = suite_records(spec, limit=args.prompts // 4)
    convs = [[{"role": "system", "content": spec.system}] + to_messages({**r, "response": ""})[:-1] for r in items]
    lm = load_model(SMOLLM2).eval()
    tok.padding_side = "left"
    start = time.perf_counter()
    naive = []
    for c in convs:
        ids = tok.apply_chat_template(c, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            out = lm.generate(**ids, max_new_tokens=spec.max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        naive.append(tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    naive_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = generate(lm, tok, convs, spec.max_new_tokens, batch_size=32)
    batched_s = time.perf_counter() - start
    same = sum(a == b for a, b in zip(naive, batched)) / len(convs)
    print(f"generation, {len(convs)} prompts: one at a time {naive_s:.1f} s, batched {batched_s:.1f} s, "
          f"{naive_s / batched_s:.1f}x; identical outputs {same:.3f}")
    results["generation"] = {"prompts": len(convs), "naive_s": naive_s, "batched_s": batched_s,
                             "speedup": naive_s / batched_s, "same_output": same}


if __name__ == "__main__":
    main()
