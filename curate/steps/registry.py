"""Finding steps by name and validating their configs, with recipe line numbers in every error."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from ..yaml_lines import where as where_in_yaml
from .base import REGISTRY, Step, StepConfig


def step_class(name: str) -> type[Step]:
    if name not in REGISTRY:
        raise ConfigError(f"unknown step '{name}'; registered steps: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def build_config(name: str, values: dict[str, Any]) -> StepConfig:
    return step_class(name).Config.model_validate(values or {})


def validate_step_configs(recipe: Any, filename: str, node: Any) -> None:
    """Every `steps[i]` of a recipe names a registered step with a valid config; all problems at once."""
    problems = []
    for i, use in enumerate(recipe.steps):
        if use.use not in REGISTRY:
            problems.append(f"{where_in_yaml(filename, node, ('steps', i, 'use'))}: steps[{i}].use: unknown step "
                            f"'{use.use}'; registered steps: {', '.join(sorted(REGISTRY))}")
            continue
        cls = REGISTRY[use.use]
        try:
            cls.Config.model_validate(use.with_ or {})
        except ValidationError as exc:
            for err in exc.errors():
                loc = ("steps", i, "with", *err["loc"])
                msg = err["msg"]
                if err["type"] == "extra_forbidden":
                    msg = f"unknown key '{err['loc'][-1]}'; valid keys: {', '.join(cls.Config.model_fields)}"
                path = f"steps[{i}].with." + ".".join(map(str, err["loc"]))
                problems.append(f"{where_in_yaml(filename, node, loc)}: {path} ({use.use}): {msg}")
    if problems:
        raise ConfigError("invalid recipe:\n  " + "\n  ".join(problems))
