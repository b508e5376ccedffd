"""The steps. A step named `family.name` lives in `steps/<family>/<name>.py`; `base.py` is the
contract every step follows, `decisions.py` the verdict frames of dataset-scope steps, `common/`
helpers several families share. Importing this package registers every built-in step."""

from __future__ import annotations

from .base import REGISTRY, Context, Result, Step, StepConfig, register
from . import compose, dedup, filter, mark, normalize, score, select, tag  # noqa: F401,E402  (registration)
from .registry import build_config, step_class, validate_step_configs

__all__ = ["REGISTRY", "Context", "Result", "Step", "StepConfig", "register", "build_config",
           "validate_step_configs", "step_class"]
