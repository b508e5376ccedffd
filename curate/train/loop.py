"""`curate train`: LoRA fine-tuning of a causal LM on curated records, packed, resumable, budgeted.

The whole run is planned before the first step: records are encoded, packed into rows per epoch
(seeded), and cut at the token budget. The plan is deterministic, so the learning-rate schedule
knows its length, two runs with the same `max_tokens` cost the same, and a resumed run continues
at exactly the row where the checkpoint was taken.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..engines.parquet_out import tmp_name
from ..errors import ConfigError
from .config import LLAMA_MODULES, TrainConfig
from .examples import EncodeError, MaskMismatch, encode
from .packing import PackedRow, collate, pack
from .supervised_loss import LossPath


@dataclass
class Plan:
    rows: list[PackedRow]
    examples: int
    skipped: Counter = field(default_factory=Counter)
    truncated: int = 0

    @property
    def tokens(self) -> int:
        return sum(len(r.ids) for r in self.rows)


def load_training_records(data: str, limit: int | None) -> list[dict]:
    from ..io.load import load_records
    path = Path(data)
    if path.is_dir() and not (path / "final.parquet").is_file() and list(path.glob("data/*.parquet")):
        data = str(path / "data" / "*.parquet")           # an exported dataset folder
    frame = load_records(data)
    if limit:
        frame = frame.head(limit)
    if frame.height == 0:
        raise ConfigError(f"{data}: no records to train on")
    return frame.to_dicts()


def make_plan(cfg: TrainConfig, tokenizer, records: list[dict]) -> Plan:
    examples, skipped, truncated = [], Counter(), 0
    for rec in records:
        try:
            ex = encode(tokenizer, rec, cfg.max_len, cfg.over_length)
        except MaskMismatch as exc:
            raise ConfigError(f"{cfg.data}: record {rec.get('id')}: {exc} under {cfg.model}'s tokenizer; a mask is "
                              "one entry per response token of the model being trained (score.token_quality with "
                              "`model:` that model)") from None
        except EncodeError as exc:
            skipped[str(exc).split(":")[0] if "tokens >" not in str(exc) else "longer than max_len"] += 1
            continue
        truncated += ex.truncated
        ex.key = f"{rec.get('origin') or ''}/{rec['id']}" if rec.get("id") is not None else ""
        examples.append(ex)
    if not examples:
        raise ConfigError(f"no record could be encoded for training: {dict(skipped)}")
    rows: list[PackedRow] = []
    for epoch in range(math.ceil(cfg.epochs)):
        epoch_rows = pack(examples, cfg.max_len, cfg.seed + epoch)
        if epoch + 1 > cfg.epochs:                          # a fractional last epoch
            epoch_rows = epoch_rows[: int(len(epoch_rows) * (cfg.epochs - epoch))]
        rows += epoch_rows
    if cfg.max_tokens:                      # exactly the budget: the last row is cut to fit
        first = next((i for i, t in enumerate(rows[0].labels) if t != -100), 0) if rows else 0
        total, kept = 0, []
        for r in rows:
            room = cfg.max_tokens - total
            if room <= 0:
                break
            if len(r.ids) > room:
                r = PackedRow(r.ids[:room], r.labels[:room], r.positions[:room], r.examples, r.keys)
            kept.append(r)
            total += len(r.ids)
        rows = kept
        if not any(t != -100 for r in rows for t in r.labels[1:]):
            raise ConfigError(f"--max-tokens {cfg.max_tokens} ends before the first response token (token "
                              f"{first + 1} of the first packed row), so nothing would be learned; "
                              f"give a budget of at least {first + 2} tokens")
    return Plan(rows, len(examples), skipped, truncated)


def plan_digest(cfg: TrainConfig) -> str | None:
    """A digest of exactly what `cfg` would train on: the packed rows (token ids, labels and
    positions) its plan cuts at the budget. Two configs with the same settings and the same digest
    train the same adapter, whatever their data files hold beyond the budget; None when the data
    asks for new tokens (the rows then depend on the grown tokenizer)."""
    from ..fingerprint import digest
    from ..models.lm import adapter_tokenizer
    if data_tokens(cfg.data) or cfg.add_tokens:
        return None
    tokenizer, _ = adapter_tokenizer(cfg.model, cfg.init_adapter)
    plan = make_plan(cfg, tokenizer, load_training_records(cfg.data, cfg.limit))
    return digest([[r.ids, r.labels, r.positions] for r in plan.rows])


def data_tokens(data: str) -> list[str]:
    """Tokens a run's steps ask the trainer to add (`add_tokens` in a stage's stats, from
    mark.context_indicator with special_token: true), so training on the run needs no flag."""
    manifest = Path(data) / "manifest.json"
    if not manifest.is_file():
        return []
    stages = json.loads(manifest.read_text()).get("stages", [])
    return sorted({s["stats"]["add_tokens"] for s in stages if isinstance(s.get("stats", {}).get("add_tokens"), str)})


def grow_embeddings(model, size: int, new_ids: list[int], pieces: list[list[int]]) -> None:
    """Room for new tokens, each starting as the mean embedding of the pieces its text was split
    into before (so "[IND]" starts near "[", "IND", "]" and not as noise)."""
    import torch
    model.resize_token_embeddings(size, mean_resizing=False)
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        for new, old in zip(new_ids, pieces):
            weight[new] = weight[torch.tensor(old)].mean(0)


def _lora(model, cfg: TrainConfig, new_token_ids: list[int] = ()):
    from peft import LoraConfig, get_peft_model
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = cfg.target_modules or ([m for m in LLAMA_MODULES if m in names] or "all-linear")
    missing = [m for m in (cfg.target_modules or []) if m not in names]
    if missing:
        raise ConfigError(f"target_modules {missing} are not modules of {cfg.model}")
    # New tokens: only their rows of the embedding are trained (PEFT's trainable tokens, tied
    # output layer included). Without this, LoRA never touches embeddings and a new token's
    # vector stays as initialised; training the whole embedding (modules_to_save) would also work
    # but makes every adapter carry a full vocabulary matrix.
    extra = {"trainable_token_indices": {"embed_tokens": list(new_token_ids)}} if new_token_ids else {}
    return get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                            target_modules=targets, task_type="CAUSAL_LM", **extra))


class Trainer:
    """Runs a plan; writes `out/adapter`, `train_config.json`, `metrics.jsonl`, `summary.json`, `loss.png`."""

    def __init__(self, cfg: TrainConfig, progress: bool = True):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.progress = progress

    def run(self) -> dict:
        import torch
        from transformers import get_scheduler
        from ..models.lm import adapter_tokenizer, auto_device, load_model, with_adapter
        from ..models.machine import training_dtype
        from ..models.packed_attention import use_packed_attention
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        device = auto_device(cfg.device)
        from ..progress import Progress
        notes = Progress(enabled=self.progress)
        tokenizer, own_tokenizer = adapter_tokenizer(cfg.model, cfg.init_adapter)
        new_tokens = sorted(set(cfg.add_tokens) | set(data_tokens(cfg.data)))
        if cfg.init_adapter:                 # tokens the adapter already has are not new
            known = tokenizer.get_vocab()
            missing = [t for t in new_tokens if t not in known]
            if missing:
                raise ConfigError(f"the data asks for new tokens {missing}, which --init-adapter {cfg.init_adapter} "
                                  "does not have: continue from an adapter trained with them, or train anew")
            new_tokens = []
        pieces = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in new_tokens]
        if new_tokens:
            tokenizer.add_tokens(new_tokens)
        plan = make_plan(cfg, tokenizer, load_training_records(cfg.data, cfg.limit))
        notes.note(f"train: {plan.examples:,} examples in {len(plan.rows):,} packed rows, {plan.tokens:,} tokens; "
                   f"loading {cfg.model} on {device}")
        dtype = training_dtype(cfg.dtype, device)
        # On a CPU the weights stay fp32 and autocast runs the matmuls in bf16 (measured faster
        # than bf16 weights, whose backward casts back and forth); on CUDA the weights are bf16.
        base = load_model(cfg.model, device, dtype if device.startswith("cuda") else "fp32")
        if new_tokens:
            grow_embeddings(base, len(tokenizer), tokenizer.convert_tokens_to_ids(new_tokens), pieces)
        if cfg.init_adapter:                 # training goes on from the adapter, its rank and targets kept
            model = with_adapter(base, cfg.model, cfg.init_adapter, tokenizer, own_tokenizer, trainable=True,
                                 name="--init-adapter")
        else:
            model = _lora(base, cfg, tokenizer.convert_tokens_to_ids(new_tokens) if new_tokens else [])
        rows_per_step = cfg.batch_size * cfg.grad_accum
        steps = math.ceil(len(plan.rows) / rows_per_step)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = get_scheduler(cfg.schedule if cfg.schedule != "constant" else "constant_with_warmup", optimizer,
                                  num_warmup_steps=int(cfg.warmup * steps), num_training_steps=steps)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "train_config.json").write_text(cfg.model_dump_json(indent=2))
        start_step, seconds_before = self._resume(model, optimizer, scheduler)
        metrics = self._metrics_from(start_step)
        pad = tokenizer.pad_token_id
        model.train()
        use_packed_attention(model)
        loss_path = LossPath(model, full=cfg.loss_at == "full_logits")
        tokens_done = sum(len(r.ids) for r in plan.rows[: start_step * rows_per_step])
        notes.note(f"train: {steps} steps" + (f", resuming after step {start_step}" if start_step else ""))
        with Progress(enabled=self.progress) as bar:
            task = bar.task("train", total=steps)
            bar.advance(task, start_step)
            seconds = self._steps(model, optimizer, scheduler, plan, steps, start_step, seconds_before, tokens_done,
                                  device, dtype, params, pad, metrics, bar, task, loss_path)
        metrics.close()
        notes.note(f"train: saving the adapter to {self.out / 'adapter'}")
        model.save_pretrained(str(self.out / "adapter"), save_embedding_layers=False)
        if new_tokens or own_tokenizer:   # the eval loads this tokenizer and grows the model to fit it
            tokenizer.save_pretrained(str(self.out / "adapter"))
        summary = {"model": cfg.model, "device": device, "dtype": dtype, "steps": steps, "rows": len(plan.rows),
                   "examples": plan.examples, "skipped": dict(plan.skipped), "truncated": plan.truncated,
                   "tokens": plan.tokens, "seconds": round(seconds, 2),
                   "tokens_per_s": round(plan.tokens / max(seconds, 1e-9), 1),
                   "trainable_params": sum(p.numel() for p in params), "added_tokens": new_tokens,
                   "loss_computed_at": loss_path.name}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        # The records trained on (a budget's cut row counts whole): what `curate ablate` reads
        # to say how many records two arms did not share.
        (self.out / "seen.json").write_text(json.dumps(sorted({k for r in plan.rows for k in r.keys if k})))
        shutil.rmtree(self.out / "checkpoint", ignore_errors=True)
        from .plot import plot_loss
        plot_loss(self.out / "metrics.jsonl", self.out / "loss.png")
        return summary

    def _steps(self, model, optimizer, scheduler, plan: Plan, steps: int, start_step: int, seconds_before: float,
               tokens_done: int, device: str, dtype: str, params, pad: int, metrics, bar, task, loss_path) -> float:
        """Run the optimizer steps from `start_step`; returns the training seconds, resumed runs included."""
        import torch
        cfg = self.cfg
        rows_per_step = cfg.batch_size * cfg.grad_accum
        started = time.perf_counter()
        for step in range(start_step, steps):
            step_rows = plan.rows[step * rows_per_step:(step + 1) * rows_per_step]
            micro = [step_rows[i:i + cfg.batch_size] for i in range(0, len(step_rows), cfg.batch_size)]
            labelled = sum(sum(t != -100 for t in r.labels[1:]) for r in step_rows)
            loss_total = 0.0
            for rows in micro:
                batch = {k: v.to(device) for k, v in collate(rows, pad).items()}
                with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=dtype == "bf16"):
                    loss_sum, _ = loss_path(batch)
                (loss_sum / max(labelled, 1)).backward()
                loss_total += float(loss_sum.detach())
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            lr = scheduler.get_last_lr()[0]                 # the rate this step used (not the next one's)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            tokens_done += sum(len(r.ids) for r in step_rows)
            elapsed = seconds_before + time.perf_counter() - started
            record = {"step": step + 1, "loss": loss_total / labelled if labelled else None,
                      "lr": lr,
                      "tokens": tokens_done, "seconds": round(elapsed, 3)}
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            loss_text = f"{record['loss']:.3f}" if labelled else "n/a"
            bar.advance(task, 1, f"loss {loss_text} · {tokens_done / max(elapsed, 1e-9):,.0f} tok/s")
            if (step + 1) % cfg.save_every == 0 and step + 1 < steps:
                self._checkpoint(model, optimizer, scheduler, step + 1, elapsed)
        bar.done(task)
        return seconds_before + time.perf_counter() - started

    def _metrics_from(self, start_step: int):
        """metrics.jsonl open for appending after step `start_step`: a resumed run first drops the
        lines of the steps it is about to redo (those logged between the checkpoint and the kill)."""
        path = self.out / "metrics.jsonl"
        if not start_step or not path.is_file():
            return open(path, "w")
        kept = [line for line in path.read_text().splitlines(keepends=True)
                if line.endswith("\n") and json.loads(line)["step"] <= start_step]   # a cut last line goes too
        tmp = tmp_name(path)
        tmp.write_text("".join(kept))
        tmp.replace(path)
        return open(path, "a")

    # -- checkpoints ---------------------------------------------------------------------------
    def _checkpoint(self, model, optimizer, scheduler, step: int, seconds: float) -> None:
        import torch
        tmp = tmp_name(self.out / "checkpoint")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(str(tmp / "adapter"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": torch.get_rng_state()}, tmp / "state.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, "seconds": seconds,
                                                    "config": self.cfg.model_dump(mode="json")}))
        final = self.out / "checkpoint"
        shutil.rmtree(final, ignore_errors=True)
        tmp.replace(final)

    def _resume(self, model, optimizer, scheduler) -> tuple[int, float]:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file
        ckpt = self.out / "checkpoint"
        if not (ckpt / "state.json").is_file():
            return 0, 0.0
        info = json.loads((ckpt / "state.json").read_text())
        mine = self.cfg.model_dump(mode="json")
        if info["config"] != mine:
            changed = sorted(k for k in mine if info["config"].get(k) != mine[k])
            raise ConfigError(f"{self.out} holds a checkpoint of a run with other settings ({', '.join(changed)}); "
                              "use another --out or delete it")
        set_peft_model_state_dict(model, load_file(str(ckpt / "adapter" / "adapter_model.safetensors")))
        state = torch.load(ckpt / "state.pt", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        return int(info["step"]), float(info["seconds"])
