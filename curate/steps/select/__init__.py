"""`select.*`: choose a subset of the whole dataset: a seeded `sample`, a `mix` of groups in ratios,
the `top` records by a score, a `diverse` set that covers the embedding space, or the `tasks`
(groups) closest to a target task."""

from . import diverse, mix, preselect, sample, tasks, top  # noqa: F401  (importing a module registers its step)
