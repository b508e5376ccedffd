"""`tag.*`: add `tag_*` / `score_*` columns that describe records without dropping them (except where a
step's config asks it to reject malformed records)."""

from . import chain, cluster, context_dependency  # noqa: F401  (importing a module registers its step)
