"""`score.*`: add a `score_<name>` column from a model (a fastText classifier today)."""

from . import fasttext  # noqa: F401  (importing a module registers its step)
