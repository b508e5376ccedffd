"""A step for the Ray engine's failure tests: keeps every record, and takes `seconds` per batch so
that a test can kill a worker (or the driver) while a stage is under way. Each batch leaves a file
named after the worker's pid in `pid_dir`, so the test knows which process to kill."""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl

from curate.steps.base import Result, Step, StepConfig, register


class SlowCopyConfig(StepConfig):
    seconds: float = 1.0
    pid_dir: str


@register("test.slow_copy")
class SlowCopy(Step):
    Config = SlowCopyConfig

    def apply(self, batch: pl.DataFrame) -> Result:
        Path(self.config.pid_dir).mkdir(parents=True, exist_ok=True)
        (Path(self.config.pid_dir) / str(os.getpid())).touch()
        time.sleep(self.config.seconds)
        return Result(kept=batch, stats={"batches": 1})


class SlowModelConfig(SlowCopyConfig):
    model: str = "none"          # a `model` field: the Ray engine runs this step on an actor pool


@register("test.slow_model_copy")
class SlowModelCopy(SlowCopy):
    """The same, configured with a "model", so that it runs on an actor pool instead of tasks."""

    Config = SlowModelConfig
