"""The Python API: run a recipe from Python as `curate run` does from the shell.

It sits above everything a recipe can ask for (the runner, then the recipe's train: and eval:
blocks), which is why it is not in `runner.py`.
"""

from __future__ import annotations

from pathlib import Path

from .recipe import Recipe
from .runner import Runner, RunResult


def run(recipe: Recipe | str | Path, out: str | Path | None = None, fresh: bool = False,
        overrides: list[str] | None = None, progress: bool = False, engine: str | None = None,
        address: str | None = None, workers: int | None = None) -> RunResult:
    """Python API: run a recipe (object or YAML path) and return its `RunResult`. `engine`
    (local or ray) overrides the recipe's; `address` is a Ray head node and `workers` the actors
    per batch step (both for ray)."""
    from .engines import get_engine
    if not isinstance(recipe, Recipe):
        recipe = Recipe.load(recipe, overrides)
    run_dir = Runner(recipe, out, fresh, progress, engine=get_engine(engine or recipe.engine, address, workers)).run()
    if recipe.train or recipe.eval:
        from .train.recipe_block import run_blocks
        run_blocks(recipe, run_dir, progress)
    return RunResult(run_dir)
