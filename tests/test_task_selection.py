"""Intermediate-task selection: the closeness measures and the ranking table (issue: task selection)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curate.models.task_divergence import DEFAULT_MEASURES, FUNCTIONS, MEASURES, TargetStats
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
    table = rank_vectors(target, candidates, DEFAULT_MEASURES)
    assert table["candidate"].to_list() == ["near", "mid", "far", "tiny"]
    tiny = table.filter(pl.col("candidate") == "tiny").row(0, named=True)
    assert tiny["knn"] is None and tiny["rank_knn"] == 4 and "knn: 3 examples, needs 6" in tiny["note"]
    assert tiny["semb"] is not None                                    # the measures it can have, it has
    assert set(table.columns) >= {"rank", "examples", *DEFAULT_MEASURES, *(f"rank_{m}" for m in DEFAULT_MEASURES)}
    with pytest.raises(ValueError, match="unknown measure"):
        rank_vectors(target, candidates, ["cosine"])
    with pytest.raises(ValueError, match="unknown measure"):
        rank_vectors(target, candidates, ["textemb"])               # needs token states, not vectors


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
                 "--out", tmp_path / "ranks.csv", "--plot", tmp_path / "map.png")
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()[:-2]) <= 80      # the last lines are paths
    from PIL import Image
    picture = np.asarray(Image.open(tmp_path / "map.png").convert("L"))
    assert picture.shape[1] > 400 and len(np.unique(picture)) > 10                  # drawn, not blank
    assert "leakage: 100% of its examples are in the target" in result.output
    rows = duckdb.sql(f"SELECT candidate, rank, rank_semb, rank_knn FROM '{tmp_path / 'ranks.csv'}' ORDER BY rank").fetchall()
    names = [r[0] for r in rows]
    assert names.index("spanish") < names.index("arithmetic")
    assert {r[0]: r[2] for r in rows}["spanish"] < {r[0]: r[2] for r in rows}["arithmetic"]
    textemb = cli("rank-tasks", "--target", tmp_path / "target.jsonl", "--candidates", tmp_path / "arithmetic.jsonl",
                  "--candidates", tmp_path / "spanish.jsonl", "--measure", "textemb", "--out", tmp_path / "t.csv")
    assert textemb.exit_code == 0, textemb.output
    ranked = pl.read_csv(tmp_path / "t.csv")
    assert ranked["candidate"].to_list() == ["spanish", "arithmetic"] and ranked["textemb"].is_between(-1, 1).all()


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


def test_random_regret_is_the_mean_over_every_choice_of_k():
    from itertools import combinations
    from curate.evals import ranking_quality as rq
    scores = np.array([0.30, 0.55, 0.41, 0.62, 0.38, 0.50])
    for k in (1, 3):
        brute = np.mean([(scores.max() - scores[list(c)].max()) / scores.max() * 100
                         for c in combinations(range(len(scores)), k)])
        assert rq.expected_random_regret(scores, k) == pytest.approx(brute)
    best_first = np.argsort(-scores)
    assert rq.regret_at_k(scores, best_first, 1) == 0.0 and rq.ndcg(scores, best_first) == pytest.approx(1.0)
    assert rq.ndcg(scores, best_first[::-1]) < rq.random_ndcg(scores) < 1.0
    assert rq.spearman(-np.arange(6.0), scores[best_first]) == pytest.approx(1.0)


def test_transfer_matrix_trains_each_cell_once_and_rank_tasks_scores_the_ranking(tmp_path, cli, monkeypatch):
    """Source adapters are trained once and reused across targets, an added source trains only its
    cells, and --evaluate reports regret, NDCG and Spearman per measure beside random."""
    import curate.train.loop as loop
    from conftest import make_tiny_llama, write_jsonl
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    tiny = make_tiny_llama(tmp_path / "tiny", seed=1)
    _tasks(tmp_path)
    write_jsonl(tmp_path / "target_eval.jsonl", [{"instruction": f"Translate '{w}' into French.", "output": f}
                                                 for w, f in [("cat", "chat"), ("dog", "chien"), ("sun", "soleil")]])
    (tmp_path / "suite.yaml").write_text("inputs: [{path: target_eval.jsonl}]\nscorer: ref_loss\ngroup_by: null\n")
    sources = "  - {path: spanish.jsonl}\n  - {path: arithmetic.jsonl}\n"
    spec = ("model: {model}\nseeds: 1\nsource_tokens: 300\ntarget_tokens: 120\nmax_len: 64\nlr: 0.01\n"
            "sources:\n{sources}targets:\n  - {{name: french, train: target.jsonl, suite: suite.yaml}}\n"
            "  - {{name: french2, train: copy.jsonl, suite: suite.yaml}}\n")
    (tmp_path / "m.yaml").write_text(spec.format(model=tiny, sources=sources))
    runs = []
    real = loop.Trainer.run
    monkeypatch.setattr(loop.Trainer, "run", lambda self: runs.append(self.cfg.data) or real(self))
    result = cli("transfer-matrix", tmp_path / "m.yaml", "--out", tmp_path / "matrix", "-q")
    assert result.exit_code == 0, result.output
    assert len(runs) == 2 + 2 + 4                       # 2 targets alone, 2 sources, 2 x 2 cells
    table = pl.read_parquet(tmp_path / "matrix" / "transfer.parquet")
    assert table.height == 4 and table["lower_is_better"].all() and (tmp_path / "matrix" / "heatmap.png").is_file()
    row = table.row(0, named=True)
    assert row["gain"] == pytest.approx(row["target_only"] - row["score"])     # a loss that fell is a gain
    assert table["eval_overlap"].to_list() == [0, 0, 0, 0]
    runs.clear()
    (tmp_path / "m.yaml").write_text(spec.format(model=tiny, sources=sources + "  - {path: copy.jsonl, name: c}\n"))
    assert cli("transfer-matrix", tmp_path / "m.yaml", "--out", tmp_path / "matrix", "-q").exit_code == 0
    assert len(runs) == 1 + 2                           # only the new source and its two cells
    leaky = pl.read_parquet(tmp_path / "matrix" / "transfer.parquet").filter(pl.col("source") == "c")
    assert leaky["eval_overlap"].to_list() == [0, 0]
    write_jsonl(tmp_path / "leak.jsonl", [{"instruction": "translate  'cat' into french.", "output": "chat"}])
    (tmp_path / "m.yaml").write_text(spec.format(model=tiny, sources=sources + "  - {path: leak.jsonl}\n"))
    flagged = cli("transfer-matrix", tmp_path / "m.yaml", "--out", tmp_path / "matrix", "-q")
    assert flagged.exit_code == 0 and "(1 eval items in the source)" in flagged.output
    evaluation = cli("rank-tasks", "--evaluate", tmp_path / "matrix", "--out", tmp_path / "eval.csv")
    assert evaluation.exit_code == 0, evaluation.output
    per_target = pl.read_csv(tmp_path / "eval.csv")
    assert set(per_target["measure"]) == {"semb", "mmd", "frechet", "kl", "knn", "combined", "random"}
    assert per_target["regret_at_3"].min() >= 0 and "regret@3" in evaluation.output
    bad = cli("rank-tasks", "--evaluate", tmp_path)
    assert bad.exit_code != 0 and "not a finished `curate transfer-matrix` folder" in bad.output


def test_select_tasks_keeps_the_closest_sources_and_ledgers_the_rest(tmp_path):
    from conftest import run_recipe
    _tasks(tmp_path)
    inputs = [{"path": str(tmp_path / "spanish.jsonl"), "source": "spanish"},
              {"path": str(tmp_path / "arithmetic.jsonl"), "source": "arithmetic"}]
    result = run_recipe(tmp_path, inputs, [{"use": "select.tasks", "with": {"target": str(tmp_path / "target.jsonl"),
                                                                           "top_k": 1}}])
    final = result.final()
    assert set(final["source"]) == {"spanish"} and final.height == 10
    rejected = pl.read_parquet(result.dir / "rejected.parquet")
    assert rejected.height == 10 and set(rejected["reason"]) == {"task_not_selected"}
    assert "task 'arithmetic' ranked 2 of 2 (combined)" in rejected["detail"][0]
    stats = next(s for s in result.manifest["stages"] if s["step"] == "select.tasks")["stats"]
    assert stats["kept_tasks"] == ["spanish"] and [r["candidate"] for r in stats["ranking"]] == ["spanish", "arithmetic"]


def test_select_tasks_reads_the_texts_of_its_sampled_examples_only(tmp_path, monkeypatch):
    """A task's examples are a seeded sample of `max_examples`; the step reads every record's task,
    but the texts of the sampled records only (a pool of millions stays off the driver)."""
    from conftest import run_recipe
    import curate.steps.select.tasks as tasks
    _tasks(tmp_path)
    read = []
    real = tasks.collect_for_embedding
    monkeypatch.setattr(tasks, "collect_for_embedding", lambda data, *a: read.append(real(data, *a)) or read[-1])
    inputs = [{"path": str(tmp_path / "spanish.jsonl"), "source": "spanish"},
              {"path": str(tmp_path / "arithmetic.jsonl"), "source": "arithmetic"}]
    step = {"use": "select.tasks", "with": {"target": str(tmp_path / "target.jsonl"), "top_k": 1, "max_examples": 4}}
    result = run_recipe(tmp_path, inputs, [step])
    stats = next(s for s in result.manifest["stages"] if s["step"] == "select.tasks")["stats"]
    assert [r["examples"] for r in stats["ranking"]] == [4, 4]
    assert sum(f.height for f in read) == 8 and set(read[0]["source"]) == {"spanish", "arithmetic"}
    assert result.final().height + pl.read_parquet(result.dir / "rejected.parquet").height == 20


def test_a_transfer_matrix_can_compare_a_continuous_column_and_names_the_ones_it_has(tmp_path):
    """`metric: margin` reads the scorer's log-probability lead (higher is better even where the
    suite's `score` is a loss); a column the results lack is an error listing those they have."""
    import json
    from curate.errors import ConfigError
    from curate.evals.transfer import _scores
    pl.DataFrame({"id": ["b", "a"], "score": [2.0, 1.0], "margin": [0.5, -0.25], "prediction": ["x", "y"]}) \
        .write_parquet(tmp_path / "predictions.parquet")
    (tmp_path / "summary.json").write_text(json.dumps({"lower_is_better": True}))
    values, ids, lower = _scores(tmp_path)
    assert values.tolist() == [1.0, 2.0] and lower is True
    values, ids, lower = _scores(tmp_path, "margin")
    assert values.tolist() == [-0.25, 0.5] and ids == ["a", "b"] and lower is False
    with pytest.raises(ConfigError, match=r"metric 'acc' is not a per-item column.*\['score', 'margin'\]"):
        _scores(tmp_path, "acc")
