"""Rank candidate datasets (or groups of records) for a target task by how close their example
embeddings are to the target's: what `curate rank-tasks` prints and writes (intermediate-task
selection: train on the closest candidate first, then on the small target set).

One row per candidate: `candidate`, `examples`, one column per measure (`task_divergence`),
`rank_<measure>` (1 = closest), the combined `rank` (by the mean of the measure ranks) and `note`
(why a candidate is ranked last, or that it overlaps the target).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ...models.task_divergence import FUNCTIONS, MEASURES, TargetStats
from .embedding import EmbeddingConfig, embed_frame, make_embedder
from .text import field_text

LEAK_SHARE = 0.5          # a candidate with at least this share of its examples in the target is flagged


def rank_vectors(target: np.ndarray, candidates: dict[str, np.ndarray], measures: list[str],
                 seed: int = 0, given: dict[str, dict[str, float]] | None = None) -> pl.DataFrame:
    """The ranking table for vectors already computed (`given`: values of measures computed
    otherwise, by measure and candidate, e.g. textemb). A candidate with fewer examples than a
    measure needs gets no value for it and is ranked last on it, with the reason in `note`."""
    unknown = [m for m in measures if m not in MEASURES or (m not in FUNCTIONS and m not in (given or {}))]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}: choose from {', '.join(MEASURES)}")
    stats = TargetStats(target, seed)
    names = list(candidates)
    values = {m: [None] * len(names) for m in measures}
    notes: list[list[str]] = [[] for _ in names]
    for k, name in enumerate(names):
        c = np.asarray(candidates[name], dtype=np.float64)
        for m in measures:
            need = MEASURES[m].min_examples
            if len(c) < need:
                notes[k].append(f"{m}: {len(c)} examples, needs {need}")
                continue
            values[m][k] = given[m][name] if given and m in given else FUNCTIONS[m](stats, c)
    columns: dict[str, list] = {"candidate": names, "examples": [len(candidates[n]) for n in names]}
    ranks = []
    for m in measures:
        columns[m] = values[m]
        rank = _ranks(values[m], MEASURES[m].higher_is_closer)
        columns[f"rank_{m}"] = rank
        ranks.append(rank)
    mean_rank = np.mean(np.array(ranks, dtype=np.float64), axis=0) if ranks else np.zeros(len(names))
    order = sorted(range(len(names)), key=lambda k: (mean_rank[k], names[k]))
    combined = [0] * len(names)
    for position, k in enumerate(order, start=1):
        combined[k] = position
    columns["rank"] = combined
    columns["note"] = ["; ".join(n) for n in notes]
    return pl.DataFrame(columns, schema_overrides={m: pl.Float64 for m in measures}).sort("rank")


def _ranks(values: list, higher_is_closer: bool) -> list[int]:
    """1 = closest; candidates without a value come after every candidate with one."""
    valid = [k for k, v in enumerate(values) if v is not None and np.isfinite(v)]
    valid.sort(key=lambda k: -values[k] if higher_is_closer else values[k])
    out = [len(valid) + 1] * len(values)
    for position, k in enumerate(valid, start=1):
        out[k] = position
    return out


def rank_frames(target: pl.DataFrame, candidates: dict[str, pl.DataFrame], measures: list[str],
                embedding: EmbeddingConfig, seed: int = 0) -> tuple[pl.DataFrame, dict]:
    """Embed the target's and every candidate's records with one model, rank, and flag candidates
    whose examples are the target's own (a candidate equal to the target would rank first for the
    wrong reason)."""
    embedder = make_embedder(embedding)
    target_vectors, _ = embed_frame(target, embedding, embedder)
    target_texts = set(target.select(field_text(embedding.field).fill_null("")).to_series().to_list())
    vectors, leaks = {}, {}
    for name, frame in candidates.items():
        vectors[name], _ = embed_frame(frame, embedding, embedder)
        texts = frame.select(field_text(embedding.field).fill_null("")).to_series().to_list()
        share = sum(t in target_texts for t in texts) / max(len(texts), 1)
        if share >= LEAK_SHARE:
            leaks[name] = share
    given = {}
    if "textemb" in measures:
        from ...models.token_states import mean_token_state

        def texts(frame: pl.DataFrame) -> list[str]:
            return frame.select(field_text(embedding.field).fill_null("")).to_series().to_list()
        centre = mean_token_state(embedding.model, texts(target), embedding.device)
        given["textemb"] = {}
        for name, frame in candidates.items():
            other = mean_token_state(embedding.model, texts(frame), embedding.device) if frame.height else centre * 0
            given["textemb"][name] = float(centre @ other / max(np.linalg.norm(centre) * np.linalg.norm(other), 1e-12))
    table = rank_vectors(target_vectors, vectors, measures, seed, given)
    if leaks:
        flagged = [f"leakage: {leaks[n]:.0%} of its examples are in the target" if n in leaks else ""
                   for n in table["candidate"].to_list()]
        table = table.with_columns(pl.Series("note", [
            "; ".join(x for x in (a, b) if x) for a, b in zip(flagged, table["note"].to_list())]))
    return table, {"embedding_model": embedding.model, "target_examples": target.height,
                   "dim": int(target_vectors.shape[1]), "leakage": leaks,
                   "vectors": {"target": target_vectors, "candidates": vectors}}
