"""`filter.*`: steps that keep or drop each record by a rule over its own fields (a SQL expression,
length, quality heuristics, language, PII, overlap with eval sets or references). One file per
step, named after it; `field_check.py` is the shape the per-field heuristics share and
`references.py` reads the reference sets `filter.decontaminate` and `filter.near` compare against."""

from . import (  # noqa: F401  (importing a module registers its step)
    chars, decontaminate, echo, language, length, long_lines, markup, near, pii, refusal, repetition, trivial,
    truncated, where)
