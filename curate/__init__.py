"""curate: data-centric curation of instruction datasets.

    from curate import Recipe, run
    result = run(Recipe.load("recipes/quickstart.yaml"))
    result.final()            # polars DataFrame
    result.sql("SELECT reason, count(*) FROM rejected GROUP BY 1")

Heavy libraries (torch, transformers, faiss, ray) are never imported here.
"""

from .models.trainer_hook import register_trainer as _register_trainer
from .version import __version__


def _train_for_steps(**settings):
    """What a step that trains calls (`models.trainer_hook`): the trainer, imported when used."""
    from .train.warmup import warmup_adapter
    return warmup_adapter(**settings)


_register_trainer(_train_for_steps)


def __getattr__(name):
    if name == "Recipe":
        from .recipe import Recipe
        return Recipe
    if name == "run":
        from .api import run
        return run
    if name == "RunResult":
        from .runner import RunResult
        return RunResult
    raise AttributeError(name)


__all__ = ["Recipe", "run", "RunResult", "__version__"]
