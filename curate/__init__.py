"""curate: data-centric curation of instruction datasets.

    from curate import Recipe, run
    result = run(Recipe.load("recipes/quickstart.yaml"))
    result.final()            # polars DataFrame
    result.sql("SELECT reason, count(*) FROM rejected GROUP BY 1")

Heavy libraries (torch, transformers, faiss, ray) are never imported here.
"""

__version__ = "0.1.0"


def __getattr__(name):
    if name == "Recipe":
        from .recipe import Recipe
        return Recipe
    if name in ("run", "RunResult"):
        from . import runner
        return getattr(runner, name)
    raise AttributeError(name)


__all__ = ["Recipe", "run", "RunResult", "__version__"]
