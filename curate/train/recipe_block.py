"""A recipe that ends with `train:` and `eval:` trains on its own output and evaluates the result.

    train: {max_tokens: 20000, lr: 2e-4}          # any `curate train` setting except data and out
    eval: {suites: [ii-execute:sum], limit: 50}   # suites, optional limit per group, batch_size

Outputs go inside the run directory, keyed by a digest of their settings, so changing them never
reuses a stale adapter and rerunning the recipe reuses finished training and evals:
`RUN/train-<digest>/` (as `curate train --out`) and `RUN/eval-<suite>-<digest>/` (as `curate eval`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from ..fingerprint import digest


class EvalBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suites: list[str] = Field(min_length=1, description="built-in suite names or suite YAML files")
    limit: Optional[int] = Field(None, ge=1, description="items per group")
    batch_size: int = Field(16, ge=1)
    model: Optional[str] = Field(None, description="default: the train block's model, else the bundled SmolLM2")


def check_train_block(block: dict) -> None:
    """Validate a `train:` block now, so a typo fails before any stage runs."""
    from .config import TrainConfig
    fixed = sorted({"data", "out"} & set(block))
    if fixed:   # the recipe trains on its own output, inside its own run folder: nowhere else
        from ..errors import ConfigError
        raise ConfigError(f"train.{fixed[0]}: a recipe trains on its own final dataset and writes inside its run "
                          "folder, so `data` and `out` cannot be set (use `curate train` for other data or folders)")
    TrainConfig(data="-", out="-", **block)


def train_and_eval(run_dir: Path, train: dict | None, evaluation: EvalBlock | None, progress: bool = True) -> dict:
    """Run the recipe's train and eval blocks on its finished `run_dir`; returns where results are."""
    import json
    from ..models.bundled import SMOLLM2
    from .config import TrainConfig
    from .loop import Trainer
    done: dict = {}
    adapter = None
    model = SMOLLM2
    if train:
        cfg = TrainConfig(data=str(run_dir), out="-", **train)
        out = run_dir / f"train-{digest(cfg.model_dump(exclude={'data', 'out'}))[:12]}"
        cfg = cfg.model_copy(update={"out": str(out)})
        if not (out / "summary.json").is_file():
            Trainer(cfg, progress=progress).run()
        adapter, model = str(out / "adapter"), cfg.model
        done["train"] = str(out)
    if evaluation:
        from ..evals.run import evaluate
        from ..evals.suites import suite_dirname
        model = evaluation.model or model
        for suite in evaluation.suites:
            key = digest([suite, model, adapter, evaluation.limit])[:12]
            out = run_dir / f"{suite_dirname(suite)}-{key}"
            if not (out / "summary.json").is_file():
                evaluate(model, suite, out, adapter=adapter, limit=evaluation.limit, batch_size=evaluation.batch_size,
                         progress=progress)
            done.setdefault("eval", {})[suite] = json.loads((out / "summary.json").read_text())["score"]
    return done


def run_blocks(recipe, run_dir: Path, progress: bool = True) -> list[str]:
    """The recipe's `train:` / `eval:` blocks on its run; lines saying where the results are."""
    evaluation = EvalBlock.model_validate(recipe.eval) if recipe.eval else None
    done = train_and_eval(Path(run_dir), recipe.train, evaluation, progress)
    lines = [f"trained: {done['train']}"] if "train" in done else []
    lines += [f"eval {suite}: {score}" for suite, score in done.get("eval", {}).items()]
    return lines
