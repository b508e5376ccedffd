"""The recipe: a validated YAML (or Python) description of inputs, steps and output.

Validation errors name the YAML line and key, and unknown step names or config keys list the
valid ones, because a recipe is the first thing a new user writes and gets wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .io.spec import InputSpec
from .yaml_lines import dotted, where


class StepUse(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    use: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dir: str = "runs"
    license: Optional[str] = Field(None, description="license written into the exported dataset card")


class Recipe(BaseModel):
    """A recipe. `Recipe.load(path)` reads YAML; `Recipe(name=..., inputs=[...], steps=[...])`
    builds the same thing in Python."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(0, ge=0, lt=2**63, description="seed for every random choice (a 63-bit integer)")
    inputs: list[InputSpec] = Field(min_length=1)
    steps: list[StepUse] = Field(default_factory=list)
    output: OutputSpec = Field(default_factory=OutputSpec)
    batch_size: int = Field(50_000, ge=1, description="records per batch streamed through each step")
    engine: Literal["local", "ray"] = Field("local", description="where steps run: local (one process) or ray "
                                                                 "(a Ray cluster; `curate run --address`)")
    train: Optional[dict] = Field(None, description="train on the final dataset (curate train settings)")
    eval: Optional[dict] = Field(None, description="evaluate the trained adapter (or the model): suites, limit")
    base_dir: Optional[str] = Field(None, exclude=True, description="folder of the recipe file")

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> "Recipe":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"recipe file not found: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            data = path.read_bytes()
            line = data.count(b"\n", 0, exc.start) + 1
            raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the recipe "
                              "as UTF-8") from None
        except OSError as exc:
            raise ConfigError(f"cannot read the recipe {path}: {exc.strerror}") from None
        return cls.from_yaml(text, str(path), overrides, base_dir=str(path.resolve().parent))

    @classmethod
    def from_yaml(cls, text: str, filename: str = "<recipe>", overrides: list[str] | None = None,
                  base_dir: str | None = None) -> "Recipe":
        try:
            node = yaml.compose(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{filename}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{filename}: a recipe is a mapping with name, inputs, steps")
        for item in overrides or []:
            apply_override(data, item)
        return cls.from_dict(data, filename, node, base_dir)

    @classmethod
    def from_dict(cls, data: dict, filename: str = "<recipe>", node: Any = None,
                  base_dir: str | None = None) -> "Recipe":
        try:
            recipe = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation(exc, filename, node)) from None
        recipe.base_dir = base_dir
        from .steps import validate_step_configs
        validate_step_configs(recipe, filename, node)
        recipe._validate_train_eval(filename, node)
        return recipe

    def _validate_train_eval(self, filename: str, node: Any) -> None:
        from .train.recipe_block import EvalBlock, check_train_block
        for key, check in (("train", check_train_block), ("eval", EvalBlock.model_validate)):
            block = getattr(self, key)
            if block is None:
                continue
            try:
                check(block)
            except ValidationError as exc:
                problems = "; ".join(f"{key}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ConfigError(f"{where(filename, node, (key,))}: {problems}") from None
            except ConfigError as exc:
                raise ConfigError(f"{where(filename, node, (key,))}: {exc}") from None

    def resolved(self) -> dict:
        """The recipe with every default filled in, as recorded in the manifest."""
        from .steps import build_config
        out = self.model_dump(mode="json", by_alias=True, exclude={"base_dir"})
        for use, step in zip(self.steps, out["steps"]):
            step["with"] = build_config(use.use, use.with_).model_dump(mode="json")
        return out


def format_validation(exc: ValidationError, filename: str, node: Any) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
            valid = ", ".join(model.model_fields) if model else ""
            msg = f"unknown key '{loc[-1]}'" + (f"; valid keys: {valid}" if valid else "")
        lines.append(f"{where(filename, node, loc)}: {dotted(loc) or 'recipe'}: {msg}")
    return "invalid recipe:\n  " + "\n  ".join(lines)


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: Any = Recipe
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        model = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return None
    return model


def apply_override(data: dict, item: str) -> None:
    """`--set steps.1.with.expr="length(response) > 5"`: dotted path, YAML-typed value."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"--set {item!r}: the value is not valid YAML ({problem}); quote it to pass text, "
                          f"e.g. --set '{key}=\"{raw}\"'") from None
    parts = key.split(".")
    target: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                raise ConfigError(f"--set {key}: '{part}' is not an index of a list of {len(target)}")
            if last:
                target[int(part)] = value
            else:
                target = target[int(part)]
        elif isinstance(target, dict):
            if last:
                target[part] = value
            else:
                target = target.setdefault(part, {})
        else:
            raise ConfigError(f"--set {key}: '{'.'.join(parts[:i])}' is not a mapping or list")
