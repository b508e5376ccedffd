"""The distributed cut-off search (`steps/common/cutoff_search.py`), without a cluster: spread a
ranked set over slices, run the two rounds as an engine would, and compare with a full sort."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curate.steps.common.cutoff_search import bracket, cutoffs, slice_bracket, slice_summary
from curate.steps.decisions import ORDER


def ranked_set(n: int, seed: int, groups: int, weighted: bool) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    key = rng.integers(0, max(2, n // 20), n).astype(np.float64)     # many ties: order must break them
    key[rng.random(n) < 0.05] = np.inf                                  # missing scores rank last
    group = rng.integers(0, groups, n).astype(str) if groups else [None] * n
    weight = rng.integers(0, 50, n).astype(np.float64) if weighted else np.ones(n)
    return pl.DataFrame({ORDER: pl.Series(range(n), dtype=pl.UInt64), "_group": pl.Series(group, dtype=pl.Utf8),
                         "_key": key, "_weight": weight})


def by_full_sort(frame: pl.DataFrame, targets: dict) -> dict:
    """Per group: the last record kept and how many, by sorting everything."""
    out = {}
    for (group,), part in frame.partition_by("_group", as_dict=True).items():
        part = part.sort(["_key", ORDER])
        i = min(int(np.searchsorted(np.cumsum(part["_weight"].to_numpy()), targets[group])), part.height - 1)
        out[group] = (part["_key"][i], part[ORDER][i], i + 1)
    return out


def searched(frame: pl.DataFrame, targets: dict, slice_rows: int, points: int) -> dict:
    slices = [frame.slice(o, slice_rows) for o in range(0, frame.height, slice_rows)]
    summaries = [slice_summary(s, points) for s in slices]
    bounds = bracket([p for _, p in summaries], targets)
    rounds = [slice_bracket(s, bounds) for s in slices]
    found = cutoffs([b for b, _ in rounds], [w for _, w in rounds], targets)
    held = sum(w.height for _, w in rounds)
    return {g: (c["_key"], c[ORDER], c["kept"]) for g, c in found.items()}, held


@pytest.mark.parametrize("groups,weighted", [(0, False), (3, False), (0, True), (4, True)])
def test_cutoff_over_slices_is_the_full_sorts_and_holds_few_records(groups, weighted):
    frame = ranked_set(20_000, seed=groups * 2 + weighted, groups=groups, weighted=weighted)
    totals = frame.group_by("_group").agg(pl.len(), pl.col("_weight").sum())
    for share in (0.0001, 0.3, 0.5, 0.999, 1.0):
        targets = {g: max(1.0, share * w) for g, w in zip(totals["_group"].to_list(), totals["_weight"].to_list())}
        found, held = searched(frame, targets, slice_rows=1_500, points=100)
        assert found == by_full_sort(frame, targets), share
        assert held < frame.height / 10, "the driver gathered most of the records"


def test_groups_without_a_target_keep_none_and_a_single_slice_works():
    frame = ranked_set(500, seed=7, groups=2, weighted=False)
    found, _ = searched(frame, {"0": 10.0, "1": None}, slice_rows=1_000, points=1000)
    assert set(found) == {"0"} and found["0"] == by_full_sort(frame.filter(pl.col("_group") == "0"), {"0": 10.0})["0"]
