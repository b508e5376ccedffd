"""`select.*`: choose a subset of the whole dataset: a seeded `sample`, a `mix` of groups in ratios,
the `top` records by a score, or a `diverse` set that covers the embedding space."""

from . import diverse, mix, sample, top  # noqa: F401  (importing a module registers its step)
