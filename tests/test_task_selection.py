"""Intermediate-task selection: the closeness measures and the ranking table (issue: task selection)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curate.models.task_divergence import FUNCTIONS, MEASURES, TargetStats
from curate.steps.common.task_ranking import rank_vectors

DIM = 16


def cloud(n: int, shift: float, seed: int, spread: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = np.zeros(DIM)
    centre[0] = 4.0                            # away from the origin, so mean directions mean something
    centre[1] = shift
    return centre + spread * rng.normal(size=(n, DIM))


def test_every_measure_orders_candidates_by_how_far_they_were_moved():
    target = TargetStats(cloud(300, 0.0, 0))
    candidates = [cloud(300, shift, seed) for seed, shift in enumerate([0.0, 1.5, 4.0], start=1)]
    for name, fn in FUNCTIONS.items():
        values = [fn(target, c) for c in candidates]
        closest_first = values if not MEASURES[name].higher_is_closer else [-v for v in values]
        assert closest_first == sorted(closest_first), (name, values)


def test_a_copy_of_the_target_is_at_distance_zero():
    x = cloud(200, 0.0, 3)
    t = TargetStats(x)
    assert FUNCTIONS["frechet"](t, x) == pytest.approx(0.0, abs=1e-3)
    assert FUNCTIONS["kl"](t, x) == pytest.approx(0.0, abs=1e-9)
    assert FUNCTIONS["semb"](t, x) == pytest.approx(1.0)
    assert abs(FUNCTIONS["mmd"](t, x)) < 0.02                   # unbiased: about -1/n for a copy
    assert FUNCTIONS["knn"](t, x) == 1.0


def test_frechet_matches_the_textbook_formula():
    from scipy.linalg import sqrtm
    a, b = cloud(120, 0.0, 4), cloud(150, 1.0, 5, spread=1.5)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * np.real(sqrtm(ca @ cb)))
    assert FUNCTIONS["frechet"](TargetStats(a), b) == pytest.approx(expected, rel=1e-3)


def test_coverage_sees_a_narrow_candidate_that_shares_the_centre():
    """Same centre, a tenth of the spread: SEmb cannot tell it from a faithful copy; coverage can."""
    target = TargetStats(cloud(300, 0.0, 6))
    narrow, wide = cloud(300, 0.0, 7, spread=0.1), cloud(300, 0.0, 8)
    assert FUNCTIONS["semb"](target, narrow) > 0.99 and FUNCTIONS["semb"](target, wide) > 0.95
    assert FUNCTIONS["knn"](target, narrow) < 0.2 < 0.6 < FUNCTIONS["knn"](target, wide)


def test_the_table_ranks_closest_first_and_a_too_small_candidate_last_with_a_reason():
    target = cloud(200, 0.0, 9)
    candidates = {"near": cloud(200, 0.2, 10), "far": cloud(200, 5.0, 11), "mid": cloud(200, 2.0, 12),
                  "tiny": cloud(3, 0.0, 13)}
    table = rank_vectors(target, candidates, list(MEASURES))
    assert table["candidate"].to_list() == ["near", "mid", "far", "tiny"]
    tiny = table.filter(pl.col("candidate") == "tiny").row(0, named=True)
    assert tiny["knn"] is None and tiny["rank_knn"] == 4 and "knn: 3 examples, needs 6" in tiny["note"]
    assert tiny["semb"] is not None                                    # the measures it can have, it has
    assert set(table.columns) >= {"rank", "examples", *MEASURES, *(f"rank_{m}" for m in MEASURES)}
    with pytest.raises(ValueError, match="unknown measure"):
        rank_vectors(target, candidates, ["cosine"])


def _tasks(tmp_path):
    from conftest import write_jsonl
    words = ["house", "tree", "river", "bread", "window", "friend", "summer", "music", "garden", "school"]
    french = ["maison", "arbre", "rivière", "pain", "fenêtre", "ami", "été", "musique", "jardin", "école"]
    target = [{"instruction": f"Translate '{w}' into French.", "output": f} for w, f in zip(words, french)]
    spanish = ["casa", "árbol", "río", "pan", "ventana", "amigo", "verano", "música", "jardín", "escuela"]
    near = [{"instruction": f"How do you say '{w}' in Spanish?", "output": s} for w, s in zip(words, spanish)]
    far = [{"instruction": f"What is {a} plus {a * 3}?", "output": str(a * 4)} for a in range(10, 20)]
    write_jsonl(tmp_path / "target.jsonl", target)
    write_jsonl(tmp_path / "spanish.jsonl", near)
    write_jsonl(tmp_path / "arithmetic.jsonl", far)
    write_jsonl(tmp_path / "copy.jsonl", target[:8])


def test_rank_tasks_command_writes_the_table_and_flags_a_copy_of_the_target(tmp_path, cli):
    import duckdb
    _tasks(tmp_path)
    result = cli("rank-tasks", "--target", tmp_path / "target.jsonl", "--candidates", tmp_path / "arithmetic.jsonl",
                 "--candidates", tmp_path / "spanish.jsonl", "--candidates", tmp_path / "copy.jsonl",
                 "--out", tmp_path / "ranks.csv")
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()[:-1]) <= 80      # the last line is the path
    assert "leakage: 100% of its examples are in the target" in result.output
    rows = duckdb.sql(f"SELECT candidate, rank, rank_semb, rank_knn FROM '{tmp_path / 'ranks.csv'}' ORDER BY rank").fetchall()
    names = [r[0] for r in rows]
    assert names.index("spanish") < names.index("arithmetic")
    assert {r[0]: r[2] for r in rows}["spanish"] < {r[0]: r[2] for r in rows}["arithmetic"]


def test_rank_tasks_groups_one_run_by_source_and_says_what_is_wrong(tmp_path, cli):
    from conftest import run_recipe
    _tasks(tmp_path)
    mixed = run_recipe(tmp_path, [{"path": str(tmp_path / "spanish.jsonl"), "source": "spanish"},
                                  {"path": str(tmp_path / "arithmetic.jsonl"), "source": "arithmetic"}],
                       [{"use": "dedup.exact"}]).dir
    result = cli("rank-tasks", "--target", tmp_path / "target.jsonl", "--candidates", mixed,
                 "--group-by", "source", "--measure", "semb", "--measure", "mmd", "--out", tmp_path / "r.parquet")
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(tmp_path / "r.parquet")
    assert table["candidate"].to_list() == ["spanish", "arithmetic"] and "knn" not in table.columns
    bad = cli("rank-tasks", "--target", tmp_path / "target.jsonl", "--candidates", mixed, "--group-by", "topic")
    assert bad.exit_code != 0 and "no column 'topic'" in bad.output
    bad = cli("rank-tasks", "--target", tmp_path / "target.jsonl", "--candidates", mixed,
              "--out", tmp_path / "r.json")
    assert bad.exit_code != 0 and ".csv or .parquet" in bad.output
