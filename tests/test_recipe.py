"""Recipe validation points at the YAML line and key; overrides; the Python API mirrors YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.errors import ConfigError
from curate.recipe import Recipe

GOOD = """\
name: demo
seed: 1
inputs:
  - path: data.jsonl
steps:
  - use: dedup.exact
  - use: filter.where
    with: {expr: "length(response) > 20"}
"""


def error_of(text: str, overrides=None) -> str:
    with pytest.raises(ConfigError) as info:
        Recipe.from_yaml(text, "r.yaml", overrides)
    return str(info.value)


def test_valid_recipe_and_resolved_defaults():
    recipe = Recipe.from_yaml(GOOD)
    resolved = recipe.resolved()
    assert resolved["steps"][0]["with"]["fields"] == ["instruction", "context", "response"]
    assert resolved["steps"][1]["with"] == {"expr": "length(response) > 20", "reason": "where_false"}


def test_unknown_step_lists_registered_steps_and_line():
    msg = error_of(GOOD.replace("dedup.exact", "dedup.exactly"))
    assert "r.yaml:6" in msg and "dedup.exactly" in msg and "filter.where" in msg and "normalize.text" in msg


def test_unknown_config_key_lists_valid_keys_and_line():
    msg = error_of(GOOD.replace("{expr:", "{exprr:"))
    assert "r.yaml:8" in msg and "exprr" in msg and "valid keys: expr, reason" in msg


def test_unknown_top_level_key_and_wrong_type_point_at_line():
    msg = error_of(GOOD + "outptu: {dir: x}\n")
    assert "r.yaml:9" in msg and "outptu" in msg and "valid keys" in msg
    msg = error_of(GOOD.replace("seed: 1", "seed: many"))
    assert "r.yaml:2" in msg and "seed" in msg


def test_input_needs_exactly_one_location():
    msg = error_of(GOOD.replace("  - path: data.jsonl", "  - path: a.jsonl\n    hub: org/name"))
    assert "r.yaml:4" in msg and "exactly one of `path` or `hub`" in msg


def test_set_overrides_any_field():
    recipe = Recipe.from_yaml(GOOD, overrides=["seed=7", "steps.1.with.expr=length(response) > 5",
                                               "inputs.0.limit=10", "output.dir=elsewhere"])
    assert recipe.seed == 7 and recipe.steps[1].with_["expr"] == "length(response) > 5"
    assert recipe.inputs[0].limit == 10 and recipe.output.dir == "elsewhere"
    assert "not an index" in error_of(GOOD, ["steps.5.with.expr=x"])
    assert "KEY=VALUE" in error_of(GOOD, ["seed"])


def test_step_config_values_are_validated():
    msg = error_of(GOOD.replace("  - use: dedup.exact", "  - use: filter.length\n    with: {min: 9, max: 3}"))
    assert "filter.length" in msg and "min (9) is larger than max (3)" in msg


def test_python_api_mirrors_yaml():
    from_python = Recipe(name="demo", seed=1, inputs=[{"path": "data.jsonl"}],
                         steps=[{"use": "dedup.exact"}, {"use": "filter.where",
                                                         "with": {"expr": "length(response) > 20"}}])
    assert from_python.resolved() == Recipe.from_yaml(GOOD).resolved()


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_bundled_recipe_loads(path, monkeypatch):
    monkeypatch.chdir(path.parent.parent)              # as the README runs them: from the repository root
    recipe = Recipe.load(path)
    assert recipe.name and recipe.inputs
