"""The trainer's loss at supervised positions only against the full-logits loss, at the trainer's
defaults (max_len 1024, 4 packed rows per step, LoRA r 16, fp32 on CPU), on real data shapes:
the same packed rows, the same LoRA model, optimizer steps timed alternately so both see the same
machine state. Reported: tokens/s of each and the ratio, per data shape.

Shapes: the Alpaca demo (short responses: most positions are prompt), LIMA (long responses),
and the P3 passage QA sets of recipes/context.yaml (long prompts, one-line answers).

    python benchmarks/supervised_loss.py [--steps 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
SHAPES = {"alpaca demo": ["llamafactory_demo/alpaca_en_demo.json"], "lima": ["lima/lima.json"],
          "p3 passage qa": ["p3_t0_templates/adversarial_qa_dbert_answer_the_following_q.jsonl",
                            "p3_t0_templates/quoref_Answer_Question_Given_Context.jsonl",
                            "p3_t0_templates/ropes_given_background_situation.jsonl"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4, help="timed optimizer steps per path and shape")
    args = ap.parse_args()
    from curate.quiet import quiet_third_party
    quiet_third_party()
    import polars as pl
    import torch
    from curate.io.load import load_records
    from curate.models.lm import load_model, load_tokenizer
    from curate.train.config import TrainConfig
    from curate.train.loop import _lora, make_plan
    from curate.train.packing import collate
    from curate.train.supervised_loss import LossPath, full_logits_loss_sum, supervised_loss_sum
    cfg = TrainConfig(data="-", out="-")
    tokenizer = load_tokenizer(cfg.model)
    model = _lora(load_model(cfg.model, "cpu"), cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    parts = LossPath(model).parts
    paths = {"full logits": lambda b: full_logits_loss_sum(model, b),
             "supervised positions": lambda b: supervised_loss_sum(model, b, parts)}
    print(f"defaults: max_len {cfg.max_len}, batch {cfg.batch_size}, lora r {cfg.lora_r}; torch threads "
          f"{torch.get_num_threads()}")
    for shape, files in SHAPES.items():
        records = pl.concat([load_records(str(SHARED / f)) for f in files], how="diagonal_relaxed").to_dicts()
        plan = make_plan(cfg, tokenizer, records)
        batches = [collate(plan.rows[i:i + cfg.batch_size], tokenizer.pad_token_id)
                   for i in range(0, cfg.batch_size * (args.steps + 1), cfg.batch_size)]
        supervised = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches[1:])
        tokens = sum(int(b["input_ids"].numel()) for b in batches[1:])
        seconds = {name: 0.0 for name in paths}
        for name, fn in paths.items():                 # warm-up step each
            fn(batches[0])[0].backward()
            optimizer.zero_grad(set_to_none=True)
        for batch in batches[1:]:
            for name, fn in paths.items():
                start = time.perf_counter()
                loss, n = fn(batch)
                (loss / max(n, 1)).backward()
                optimizer.zero_grad(set_to_none=True)       # no step: both paths see the same weights
                seconds[name] += time.perf_counter() - start
        rates = {name: tokens / s for name, s in seconds.items()}
        print(f"{shape:<14} supervised share {supervised / tokens:.0%}: "
              + ", ".join(f"{name} {rate:,.0f} tok/s" for name, rate in rates.items())
              + f"; ratio {rates['supervised positions'] / rates['full logits']:.2f}x")


if __name__ == "__main__":
    main()
