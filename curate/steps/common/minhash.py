"""MinHash-LSH near-duplicate detection over a whole set: shingles, signatures, bands, components.

Why these pieces:
- shingles are hashed column-wise by polars (split, explode, hash, combine k neighbours), so no
  Python loop touches a shingle;
- signatures come from rensa (Rust MinHash, `digest_matrix_from_flat_token_hashes`: one flat
  buffer of shingle hashes in, a signature matrix out). datasketch computes the same estimate
  but one document at a time in Python;
- signatures are kept in a file, with only their band keys in memory (`signature_file`);
- LSH bands are bucketed with numpy sorts, candidate pairs are checked against the threshold on
  their signatures (`verify`, so band collisions below the threshold do not merge groups), and
  groups are connected components (scipy), as in datatrove's and Data-Juicer's pipelines.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from .signature_file import SignatureFile

_MIX = np.uint64(0x9E3779B97F4A7C15)
_POLY = 0x100000001B3  # odd: shingle hash = sum of unit hashes times powers of it (mod 2^64)
_LANE = [np.uint64(m) for m in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB,
                                 0xBF58476D1CE4E5B9, 0x2545F4914F6CDD1D, 0xD6E8FEB86659FD93,
                                 0xA0761D6478BD642F, 0xE7037ED1A0B428DB)]


def normalize_for_shingles(text: pl.Expr, lowercase: bool, ignore_punctuation: bool) -> pl.Expr:
    """The text MinHash compares: optionally lowercased and without punctuation, whitespace squeezed."""
    if lowercase:
        text = text.str.to_lowercase()
    if ignore_punctuation:
        text = text.str.replace_all(r"[\p{P}\p{S}]", " ")
    return text.str.replace_all(r"\s+", " ").str.strip_chars()


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads combined hashes over all 64 bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def shingle_hashes(texts: pl.Series, unit: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of each text's `size`-grams of characters or words, flat, with row offsets.

    A text shorter than `size` units gives one shingle (all of it); an empty text gives none."""
    units = texts.fill_null("").str.split("" if unit == "chars" else " ")
    if unit == "words":
        units = units.list.eval(pl.element().filter(pl.element() != ""))
    lengths = units.list.len().to_numpy().astype(np.int64)
    flat = units.explode().drop_nulls()
    with np.errstate(over="ignore"):
        h = flat.hash(seed=0xC0FFEE).to_numpy().astype(np.uint64)
        row = np.repeat(np.arange(len(lengths)), lengths)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        pos = np.arange(len(h)) - starts[row]
        remaining = lengths[row] - pos              # units from this one to the end of its text
        combined = h.copy()
        for j in range(1, size):
            nxt = np.zeros_like(h)
            nxt[:-j] = h[j:]
            nxt[remaining <= j] = 0                   # past the end of this text
            combined += nxt * np.uint64(pow(_POLY, j, 1 << 64)) + _MIX
        keep = (remaining >= size) | ((pos == 0) & (lengths[row] < size))
        hashes = _mix64(combined[keep])
    counts = np.bincount(row[keep], minlength=len(lengths))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    return hashes, offsets


def signatures(texts: pl.Series, unit: str, size: int, num_perm: int, seed: int,
               chunk: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """(n, num_perm) uint32 MinHash signatures and a mask of rows that had any shingle."""
    import rensa
    out = np.zeros((len(texts), num_perm), dtype=np.uint32)
    has = np.zeros(len(texts), dtype=bool)
    for start in range(0, len(texts), chunk):
        part = texts.slice(start, chunk)
        hashes, offsets = shingle_hashes(part, unit, size)
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, num_perm, seed)
        out[start:start + len(part)] = np.array(matrix.to_rows(), dtype=np.uint32)
        has[start:start + len(part)] = np.diff(offsets.astype(np.int64)) > 0
    return out, has


@lru_cache(maxsize=None)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimizing the summed false-positive and false-negative probability mass for
    `threshold`, the rule datasketch uses (equal weights)."""
    from scipy.integrate import quad
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = quad(lambda s: 1 - (1 - s ** r) ** b, 0.0, threshold)[0]
            fn = quad(lambda s: (1 - s ** r) ** b, threshold, 1.0)[0]
            if fp + fn < best_err:
                best, best_err = (b, r), fp + fn
    return best


@dataclass
class NearDuplicates:
    """Connected components of near-duplicate records."""

    component: np.ndarray      # component label per row (rows without shingles are singletons)
    candidate_pairs: int       # pairs that shared a band bucket
    verified_pairs: int        # of those, pairs whose estimated Jaccard reached the threshold


def band_keys(sig: np.ndarray) -> np.ndarray:
    """One 64-bit key per row for a band (a slice of signature columns)."""
    with np.errstate(over="ignore"):
        key = np.zeros(len(sig), dtype=np.uint64)
        for j in range(sig.shape[1]):
            key = _mix64(key * _LANE[j % len(_LANE)] + sig[:, j].astype(np.uint64) + np.uint64(j + 1))
    return key


def bucket_pairs(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs of one band: every row paired with the first (lowest) row of its bucket,
    the rows sharing its key. Whoever holds a band's keys (the driver, or a worker holding one
    partition of the keys) finds the same pairs."""
    order = np.lexsort((rows, keys))
    sorted_keys = keys[order]
    same_as_prev = np.concatenate([[False], sorted_keys[1:] == sorted_keys[:-1]])
    group_start = np.maximum.accumulate(np.where(same_as_prev, 0, np.arange(len(order))))
    members = np.flatnonzero(same_as_prev)
    return rows[order[group_start[members]]], rows[order[members]]


def verified(a: np.ndarray, c: np.ndarray, similarity, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs whose estimated Jaccard (`similarity(a, c)`) reaches `threshold`."""
    if not len(a):
        return a, c
    ok = similarity(a, c) >= threshold
    return a[ok], c[ok]


def components(n: int, left: list[np.ndarray], right: list[np.ndarray], candidates: int) -> NearDuplicates:
    """Connected components of `n` rows linked by the pairs (left[i][j], right[i][j])."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    left_all = np.concatenate(left) if left else np.zeros(0, dtype=np.int64)
    right_all = np.concatenate(right) if right else np.zeros(0, dtype=np.int64)
    pairs = np.unique(np.stack([left_all, right_all], axis=1), axis=0) if len(left_all) else np.zeros((0, 2), int)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return NearDuplicates(component=labels, candidate_pairs=int(candidates), verified_pairs=len(pairs))


def linked_band_pairs(bands, similarity, threshold: float, verify: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """The pairs (left, right) linked within each band's buckets, and the candidate count.
    `bands` yields each band's (keys, rows); with `verify`, a candidate pair links only if its
    estimated Jaccard (`similarity`) reaches `threshold`."""
    left, right, candidates = [], [], 0
    for keys, rows in bands:
        a, c = bucket_pairs(keys, rows)
        candidates += len(a)
        if verify:
            a, c = verified(a, c, similarity, threshold)
        left.append(a)
        right.append(c)
    return (np.concatenate(left) if left else np.zeros(0, dtype=np.int64),
            np.concatenate(right) if right else np.zeros(0, dtype=np.int64), candidates)


def near_duplicate_components(signed: "SignatureFile", threshold: float, verify: bool = True) -> NearDuplicates:
    """Rows sharing any band bucket are candidates; with `verify`, a candidate pair links only if the
    share of equal signature values (the MinHash Jaccard estimate) is at least `threshold`.
    Memory: the band keys plus one band's sort at a time; signatures are read back per chunk."""
    live = np.flatnonzero(signed.has)
    left, right, candidates = linked_band_pairs(((signed.keys[live, b], live) for b in range(signed.bands)),
                                                signed.similarity, threshold, verify)
    return components(len(signed), [left], [right], candidates)
