"""Benchmark: curate's trainer vs a plain Hugging Face `Trainer` + PEFT with the default padding
collator, same model, examples, LoRA config, sequence cap and batch size, one run; plus batched
eval generation vs one-prompt-at-a-time `generate`.

Training data: real instruction records of varied lengths (the Alpaca demo and LIMA from
../shared/data), encoded once by curate (chat template, loss on response tokens) and given to both
trainers, so both see exactly the same tokens. Baseline: `transformers.Trainer`, batches of
`--batch` examples padded by `DataCollatorForSeq2Seq`. curate: the same examples packed into rows
of `--max-len` tokens, `--batch` rows per step. Reported: useful (non-pad) tokens per second, and
the share of this CPU's peak that represents (LoRA training costs about 4 × parameters FLOPs per
token: forward, and backward through the frozen weights without their gradients).

    python benchmarks/train_speed.py [--examples 64] [--max-len 512] [--batch 8]
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


def cpu_peak_gflops() -> float:
    """fp32 peak of this machine: cores x GHz x 32 FLOPs per cycle (AMD Zen 4: two 256-bit FMA pipes,
    8 floats x 2 FLOPs each; AVX-512 instructions are split over them)."""
    import os
    ghz = 2.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                ghz = float(line.split(":")[1]) / 1000
                break
    except OSError:
        pass
    return os.cpu_count() * ghz * 32


def records(n: int) -> list[dict]:
    from curate.io.load import load_records
    import polars as pl
    frame = pl.concat([load_records(str(SHARED / "llamafactory_demo" / "alpaca_en_demo.json")),
                       load_records(str(SHARED / "lima" / "lima.json"))], how="diagonal_relaxed")
    return frame.sample(n=n, seed=0).to_dicts()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=96)
    ap.add_argument("--only", choices=["train", "generation"], help="run one half")
    args = ap.parse_args()
    import torch
    from curate.models.bundled import SMOLLM2
    from curate.models.lm import load_tokenizer
    from curate.train.examples import encode
    WORK.mkdir(parents=True, exist_ok=True)
    tok = load_tokenizer(SMOLLM2)
    recs = records(args.examples)
    examples = [encode(tok, r, args.max_len) for r in recs]
    useful = sum(len(e.ids) for e in examples)
    print(f"{len(examples)} examples, {useful:,} tokens, lengths {min(len(e.ids) for e in examples)}-"
          f"{max(len(e.ids) for e in examples)}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    results = {}
    if args.only != "generation":
        train_speed(args, tok, recs, examples, useful, results)
    if args.only != "train":
        generation_speed(args, tok, results)
    (WORK / "results.json").write_text(json.dumps(results, indent=2))


def train_speed(args, tok, recs, examples, useful, results) -> None:
    import torch
    from curate.models.bundled import SMOLLM2
    from curate.models.lm import load_model
    from curate.train.config import TrainConfig
    from curate.train.loop import Trainer as CurateTrainer, _lora

    # -- baseline: HF Trainer + PEFT, padding collator ------------------------------------------
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments
    cfg = TrainConfig(data="-", out=str(WORK / "curate"), max_len=args.max_len, batch_size=args.batch, epochs=1.0,
                      lr=2e-4, lora_dropout=0.0)
    torch.manual_seed(0)
    model = _lora(load_model(SMOLLM2), cfg)
    params = sum(p.numel() for p in model.parameters())
    ds = Dataset.from_list([{"input_ids": e.ids, "attention_mask": [1] * len(e.ids), "labels": e.labels}
                            for e in examples])
    hf = Trainer(model=model, args=TrainingArguments(output_dir=str(WORK / "hf"), per_device_train_batch_size=args.batch,
                                                     num_train_epochs=1, learning_rate=2e-4, report_to=[],
                                                     logging_steps=1000, save_strategy="no", use_cpu=True,
                                                     disable_tqdm=True, seed=0),
                 train_dataset=ds, data_collator=DataCollatorForSeq2Seq(tok, padding=True))
    start = time.perf_counter()
    hf.train()
    s = time.perf_counter() - start
    results["HF Trainer + PEFT, padding collator"] = {"seconds": s, "tokens_per_s": useful / s}
    del hf, model

    # -- curate: packed rows ----------------------------------------------------------------------
    data = WORK / "records.jsonl"
    with open(data, "w") as fh:
        for r in recs:
            fh.write(json.dumps({"instruction": r["instruction"], "input": r["context"] or "",
                                 "output": r["response"]}) + "\n")
    cfg = cfg.model_copy(update={"data": str(data)})
    import shutil
    shutil.rmtree(cfg.out, ignore_errors=True)
    summary = CurateTrainer(cfg, progress=False).run()
    results["curate train (packed)"] = {"seconds": summary["seconds"], "tokens_per_s": summary["tokens"] / summary["seconds"]}

    peak = cpu_peak_gflops()
    base = results["HF Trainer + PEFT, padding collator"]["tokens_per_s"]
    print(f"{'trainer':<40} {'s':>8} {'tokens/s':>9} {'x':>6} {'% of CPU peak':>14}")
    for name, r in results.items():
        r["speedup"] = r["tokens_per_s"] / base
        r["peak_fraction"] = 4 * params * r["tokens_per_s"] / (peak * 1e9)
        print(f"{name:<40} {r['seconds']:>8.1f} {r['tokens_per_s']:>9.1f} {r['speedup']:>6.2f} {100 * r['peak_fraction']:>13.1f}%")
    print(f"(peak assumed {peak:.0f} GFLOP/s fp32; {params / 1e6:.1f}M parameters)")


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
