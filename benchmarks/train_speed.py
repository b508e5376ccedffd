"""Benchmark: `curate train` at its defaults against the LoRA script a new user writes with Hugging
Face `Trainer` + PEFT (benchmarks/hf_trainer_baseline.py: padding collator, the same LoRA targets,
rank, dropout and learning rate, one epoch), each run as the whole command a user types (model
load included), on three data shapes from ../shared/data:

    short   Self-Instruct seed and user-oriented tasks: short, uniform records
    mix     the Alpaca demo + LIMA, sampled: short and long together
    long    LIMA's longest records: every example fills a 1024-token row

The baseline runs twice: at Trainer's defaults (fp32 on a CPU) and with `bf16=True` (Trainer's
CPU autocast, for a user who knows the flag). Reported per shape: wall seconds, trained tokens
(prompt + response, no pad) per second, the ratio to each baseline, the precision curate chose on
this machine, and the share of this CPU's measured matmul peak in that precision (a GEMM here;
LoRA training costs about 4 x parameters FLOPs per token: forward, and backward through the frozen
weights without their gradients). Then peak memory of a one-step `curate train` at max_len 1024
and 2048, now and (with `--before CHECKOUT`, a checkout of an older commit) before.
Also batched eval generation against one-prompt-at-a-time `generate` (`--only generation`).

    python benchmarks/train_speed.py [--shapes short,mix,long] [--tokens 20000] [--before DIR]
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


def gemm_peak_gflops(n: int = 2048, repeats: int = 5, dtype: str = "fp32") -> float:
    """Matmul throughput of this machine at torch's thread count in `dtype`: the best of `repeats`
    n x n x n products (measured, not assumed from a CPU model)."""
    import torch
    kind = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a, b = torch.randn(n, n, dtype=kind), torch.randn(n, n, dtype=kind)
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
    ap.add_argument("--before", help="a checkout of an older commit: its peak memory beside today's")
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


BASELINES = {"HF Trainer + PEFT (fp32)": [], "HF Trainer + PEFT (bf16)": ["--bf16"]}


def train_speed(args, results) -> None:
    import shutil
    import torch
    from curate.models.bundled import SMOLLM2
    from curate.models.lm import load_model, load_tokenizer, resolve
    from curate.models.machine import training_dtype
    tokenizer = load_tokenizer(SMOLLM2)
    plain = resolve(SMOLLM2)                        # the plain copy curate saves once: what HF loads
    params = sum(p.numel() for p in load_model(SMOLLM2).parameters())
    chosen = training_dtype("auto", "cpu")
    peaks = {d: gemm_peak_gflops(dtype=d) for d in ("fp32", "bf16")}
    print(f"matmul peak measured here: fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f} GFLOP/s at "
          f"{torch.get_num_threads()} threads; {params / 1e6:.1f}M parameters; curate's auto precision: {chosen}")
    results["peaks_gflops"], results["curate_dtype"] = peaks, chosen
    print(f"{'shape':<6} {'trainer':<25} {'s':>6} {'tokens':>6} {'tok/s':>6} {'x fp32':>6} {'x bf16':>6} {'%peak':>6}")
    for shape in args.shapes.split(","):
        rows = shape_records(shape, args.tokens, tokenizer)
        data = WORK / f"{shape}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        entry = {}
        for name, flags in BASELINES.items():
            log = WORK / f"{shape}-hf{'-bf16' if flags else ''}.log"
            r = run_command([PYTHON, str(ROOT / "benchmarks" / "hf_trainer_baseline.py"), str(data), plain,
                             str(WORK / f"{shape}-hf"), *flags], log)
            entry[name] = {**r, "tokens": json.loads(log.read_text().strip().splitlines()[-1])["tokens"],
                           "dtype": "bf16" if flags else "fp32"}
        cu_out = WORK / f"{shape}-curate"
        shutil.rmtree(cu_out, ignore_errors=True)
        r = run_command([str(Path(PYTHON).parent / "curate"), "train", str(data), "--out", str(cu_out), "-q"],
                        WORK / f"{shape}-curate.log")
        summary = json.loads((cu_out / "summary.json").read_text())
        entry["curate train (defaults)"] = {**r, "tokens": summary["tokens"], "dtype": summary["dtype"]}
        for e in entry.values():
            e["tokens_per_s"] = e["tokens"] / e["seconds"]
            e["peak_share"] = 4 * params * e["tokens_per_s"] / (peaks[e["dtype"]] * 1e9)
        fp32, bf16 = (entry[n]["tokens_per_s"] for n in BASELINES)
        for name, e in entry.items():
            e["vs_fp32"], e["vs_bf16"] = e["tokens_per_s"] / fp32, e["tokens_per_s"] / bf16
            print(f"{shape:<6} {name:<25} {e['seconds']:>6.1f} {e['tokens']:>6} {e['tokens_per_s']:>6.1f} "
                  f"{e['vs_fp32']:>6.2f} {e['vs_bf16']:>6.2f} {100 * e['peak_share']:>5.1f}%")
        results[shape] = {"records": len(rows), **entry}
    if args.memory:
        memory(results, args.before)


def memory(results, before: str | None) -> None:
    """Peak RSS of a one-step `curate train` (4 rows of one example each) at max_len 1024 and 2048:
    today's defaults, and an older checkout's (`before`) run the same way."""
    import shutil
    rows = [{"instruction": "Write a long essay.", "input": "", "output": ("word " * 3000).strip()}] * 8
    data = WORK / "long-rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{'max_len':>7} {'code':<30} {'peak RSS GiB':>12} {'s':>7}  exit")
    results["memory"] = {}
    variants = [("now (defaults)", str(ROOT), "auto")]
    if before:
        variants.append((f"before ({Path(before).name}, full logits)", before, "full_logits"))
    for max_len in (1024, 2048):
        for name, checkout, loss_at in variants:
            out = WORK / f"mem-{max_len}-{len(results['memory'])}"
            code = (f"import sys; sys.path.insert(0, {checkout!r})\n"
                    "from curate.quiet import quiet_third_party; quiet_third_party()\n"
                    "from curate.train.config import TrainConfig\nfrom curate.train.loop import Trainer\n"
                    f"Trainer(TrainConfig(data={str(data)!r}, out={str(out)!r}, "
                    f"max_len={max_len}, max_tokens={4 * max_len}, loss_at={loss_at!r}), progress=False).run()")
            shutil.rmtree(out, ignore_errors=True)
            from measure import measure
            r = measure([PYTHON, "-c", code], cwd=checkout, log=str(out) + ".log")
            # exit -9: killed, on this machine by the kernel's out-of-memory killer (see dmesg)
            print(f"{max_len:>7} {name:<30} {r['peak_rss_gib']:>12.2f} {r['seconds']:>7.1f}  {r['exit']}")
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
