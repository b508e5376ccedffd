"""The baseline of benchmarks/train_speed.py: the LoRA fine-tuning script a new user writes with
Hugging Face `Trainer` + PEFT (the tutorial recipe): chat template, loss on the response only,
`DataCollatorForSeq2Seq` padding each batch to its longest example, the same LoRA targets, rank,
dropout and learning rate as `curate train`'s defaults, one epoch; fp32 on a CPU (Trainer's
default) or, with `--bf16`, Trainer's CPU autocast (what a user who knows the flag gets). Run as
its own process, so its wall time includes loading the model, as `curate train`'s does.

    python benchmarks/hf_trainer_baseline.py DATA.jsonl MODEL_DIR OUT [--batch 4] [--max-len 1024] [--bf16]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    started = time.perf_counter()
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--lora-dropout", type=float, default=0.0)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                              TrainingArguments)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=args.lora_dropout, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj"]))
    rows = [json.loads(line) for line in open(args.data, encoding="utf-8")]

    def encode(row: dict) -> dict:
        user = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True,
                                               tokenize=True)
        full = tokenizer.apply_chat_template([{"role": "user", "content": user},
                                              {"role": "assistant", "content": row["output"]}], tokenize=True)
        prompt, full = list(getattr(prompt, "input_ids", prompt)), list(getattr(full, "input_ids", full))
        full = full[:args.max_len]
        labels = [-100] * min(len(prompt), len(full)) + full[len(prompt):]
        return {"input_ids": full, "attention_mask": [1] * len(full), "labels": labels}

    data = Dataset.from_list([encode(r) for r in rows])
    tokens = sum(len(x) for x in data["input_ids"])
    trainer = Trainer(model=model, train_dataset=data,
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True),
                      args=TrainingArguments(output_dir=args.out, per_device_train_batch_size=args.batch,
                                             num_train_epochs=1, learning_rate=2e-4, lr_scheduler_type="cosine",
                                             warmup_steps=0.05, logging_steps=10_000, save_strategy="no",
                                             report_to=[], use_cpu=not torch.cuda.is_available(),
                                             disable_tqdm=True, seed=0, bf16=args.bf16))
    trainer.train()
    model.save_pretrained(args.out)
    print(json.dumps({"tokens": tokens, "examples": len(rows), "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
