"""`mark.*`: steps that mark records for training rather than keep or drop them (a conditional
indicator now; token-level loss masks later)."""

from . import context_indicator  # noqa: F401  (importing a module registers its step)
