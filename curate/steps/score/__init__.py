"""`score.*`: add a `score_<name>` column from a model: a fastText classifier, or per-token loss
masks from a base and a reference LM (`token_quality`), instruction-following difficulty (`ifd`)."""

from . import fasttext, ifd, predictive_strength, token_quality  # noqa: F401  (importing a module registers its step)
