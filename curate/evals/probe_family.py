"""`curate probes`: a probe family for `score.predictive_strength`, built and scored offline.

PreSelect needs several models of graded downstream ability, each with a measured score. Online,
that is a model family (SmolLM2 135M/360M/1.7B); offline, curate builds one from the bundled
model: one LoRA training run on `train` data continued through increasing token budgets (each
budget's adapter continues the previous one, as checkpoints of one run would be), the base model
itself as the budget-0 member, plus any given models or adapters. Every member is scored on the
suite, and the family is written as the YAML that `score.predictive_strength` reads with
`probes_file:`. Adapters and scores are cached (`cached_runs`): rebuilding with one more budget
trains only that budget.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import yaml

from ..errors import ConfigError
from ..fingerprint import digest, folder_fingerprint

MIN_DISTINCT = 5


def build_family(suite: str, out: str | Path, model: str, train: Optional[str] = None, budgets: tuple = (),
                 models: tuple = (), adapters: tuple = (), items: Optional[int] = None, seed: int = 0,
                 lr: float = 1e-3, max_len: int = 512, batch_size: int = 4, eval_batch_size: int = 16,
                 progress: bool = True) -> list[dict]:
    """Score the base `model`, the adapters of `train` at each of `budgets` (tokens, increasing),
    every extra model and adapter on `suite`; write the family to `out` (YAML) and return it."""
    from ..progress import Progress
    from ..train.config import TrainConfig
    from .cached_runs import evaluated, trained
    from .identity import data_identity, model_identity
    from .measures import SuiteMeasure
    if budgets and not train:
        raise ConfigError("--budgets needs --train DATA (the data the family's adapters are trained on)")
    if list(budgets) != sorted(set(budgets)) or any(b <= 0 for b in budgets):
        raise ConfigError(f"--budgets must be positive and increasing, got {list(budgets)}")
    if models and (adapters or budgets):
        raise ConfigError("a probe family with adapters must share one base model: give --probe-model only "
                          "without --adapter and --budgets (or train the adapters over each model separately)")
    measure = SuiteMeasure(suite)
    suite_id = measure.identity()
    base_id = model_identity(model)
    notes = Progress(enabled=progress)
    members: list[dict] = [{"model": model, "name": "base"}] + \
        [{"model": m} for m in models] + [{"model": model, "adapter": str(a)} for a in adapters]
    if budgets:
        data_id, previous, done = data_identity(train), None, 0
        for budget in budgets:
            cfg = TrainConfig(data=train, model=model, out="-", seed=seed, max_tokens=budget - done, epochs=100.0,
                              max_len=max_len, batch_size=batch_size, lr=lr,
                              init_adapter=str(previous / "adapter") if previous else None)
            previous, _ = trained(cfg, data_id, base_id, False, notes, f"probes: {budget:,} tokens")
            done = budget
            members.append({"model": model, "adapter": str(previous / "adapter"), "name": f"tokens_{budget}"})
    lower = False
    with Progress(enabled=progress) as bar:
        task = bar.task("probes scored", total=len(members))
        for member in members:
            adapter = Path(member["adapter"]) if member.get("adapter") else None
            if adapter is not None and not (adapter / "adapter_config.json").is_file():
                raise ConfigError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
            key = digest("probe", model_identity(member["model"]),
                         folder_fingerprint(adapter) if adapter else None)[:16]
            result, _ = evaluated(measure, suite_id, key, adapter.parent if adapter else None, member["model"],
                                  items, eval_batch_size, False, adapter_name=adapter.name if adapter else "adapter")
            summary = json.loads((result / "summary.json").read_text())
            member["score"] = float(summary["score"])
            lower = bool(summary.get("lower_is_better"))
            bar.advance(task, 1)
    distinct = len({m["score"] for m in members})
    if distinct < MIN_DISTINCT:
        raise ConfigError(f"the family has {distinct} distinct scores on {suite} (of {len(members)} probes); "
                          f"score.predictive_strength needs {MIN_DISTINCT}: add budgets or models, or score more "
                          f"items (scores: {[m['score'] for m in members]})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# written by `curate probes`: {len(members)} probes scored on {suite}"
              f"{f' ({items} items per group)' if items else ''}; read it with score.predictive_strength "
              "probes_file:\n")
    content = {"suite": suite, "lower_is_better": lower, "probes": members}
    out.write_text(header + yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return members
