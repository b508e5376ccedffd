"""`dedup.*`: drop records that repeat another: `exact` (equal after normalization), `near` (MinHash-LSH
over shingles) and `semantic` (SemDeDup over embeddings). Which copy survives is a rule over the
input order (and a priority where the step has one), so any engine reaches the same result."""

from . import exact, near, semantic  # noqa: F401  (importing a module registers its step)
