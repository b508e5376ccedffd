"""Predictive data selection: predictive strength over a probe family (issue: PreSelect)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import make_tiny_llama, run_recipe, write_jsonl
from curate.steps.score.predictive_strength import predictive_strength


def test_strength_is_the_share_of_probe_pairs_whose_loss_order_matches_their_score_order():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    bpc = np.array([[5.0, 4.0, 3.0, 2.0, 1.0],         # better model, lower loss: every pair matches
                    [1.0, 2.0, 3.0, 4.0, 5.0],         # reversed: none
                    [5.0, 4.0, 3.0, 1.0, 2.0],         # one of ten pairs out of order
                    [3.0, 3.0, 3.0, 3.0, 3.0],         # equal losses order nothing
                    [5.0, 4.0, np.nan, 2.0, 1.0]])
    got = predictive_strength(bpc, scores)
    assert got[:4].tolist() == [1.0, 0.0, 0.9, 0.0] and np.isnan(got[4])
    tied = predictive_strength(bpc[:1], np.array([0.1, 0.1, 0.3, 0.4, 0.5]))   # the tied pair is no pair
    assert tied[0] == 1.0
    assert predictive_strength(bpc[:2], scores, "spearman").tolist() == pytest.approx([1.0, -1.0])


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes")
    return [make_tiny_llama(root / f"m{k}", seed=10 + k) for k in range(5)]


def test_every_probe_gets_a_bpc_column_short_texts_are_left_out_and_losses_are_cached(family, tmp_path, monkeypatch):
    import curate.models.lm as lm
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    write_jsonl(tmp_path / "d.jsonl", [{"instruction": f"Tell me about the number {k}.",
                                        "output": f"The number {k} comes after {k - 1} and before {k + 1}."}
                                       for k in range(6)] + [{"instruction": "Hi", "output": "Yo"}])
    probes = [{"model": m, "score": s} for m, s in zip(family, [0.1, 0.3, 0.2, 0.5, 0.4])]
    loads = []
    real = lm.load_for_eval
    monkeypatch.setattr(lm, "load_for_eval", lambda *a, **k: loads.append(a[0]) or real(*a, **k))
    step = [{"use": "score.predictive_strength", "with": {"probes": probes}}]
    first = run_recipe(tmp_path / "a", [{"path": str(tmp_path / "d.jsonl")}], step).final()
    assert {f"score_bpc_m{k}" for k in range(5)} <= set(first.columns) and len(loads) == 5
    short = first.filter(pl.col("response") == "Yo")
    assert short["score_predictive"][0] is None and short["score_bpc_m0"][0] is None
    scored = first.filter(pl.col("response") != "Yo")
    assert scored["score_bpc_m0"].min() > 0 and scored["score_predictive"].is_between(0, 1).all()
    loads.clear()
    again = run_recipe(tmp_path / "b", [{"path": str(tmp_path / "d.jsonl")}], step).final()
    assert loads == [] and again["score_predictive"].to_list() == first["score_predictive"].to_list()


def test_a_probe_family_must_be_large_enough_and_share_a_base(family, tmp_path):
    from curate.errors import ConfigError
    from curate.recipe import Recipe
    probes = "".join(f"      - {{model: {m}, score: {k / 10}}}\n" for k, m in enumerate(family[:3]))
    (tmp_path / "r.yaml").write_text("name: t\ninputs: [{path: d.jsonl}]\nsteps:\n  - use: score.predictive_strength\n"
                                     f"    with:\n      probes:\n{probes}")
    with pytest.raises(ConfigError, match="3 probe models given: at least 5"):
        Recipe.load(tmp_path / "r.yaml")
    mixed = "".join(f"      - {{model: {m}, score: {k / 10}, adapter: {tmp_path}/a{k}}}\n" for k, m in enumerate(family))
    (tmp_path / "r.yaml").write_text("name: t\ninputs: [{path: d.jsonl}]\nsteps:\n  - use: score.predictive_strength\n"
                                     f"    with:\n      probes:\n{mixed}")
    with pytest.raises(ConfigError, match="share one base model"):
        Recipe.load(tmp_path / "r.yaml")


def _pool(n: int = 40) -> list[dict]:
    good = [{"instruction": f"Explain step {k} of baking bread with yeast and flour.",
             "output": f"Knead the dough with flour and yeast, then let it rise for {k + 1} hours.",
             "score_predictive": 1.0} for k in range(n)]
    bad = [{"instruction": f"Write noise {k}.", "output": f"zzz qqq {k} xxx vvv", "score_predictive": 0.2}
           for k in range(n)]
    return good + bad


def test_preselect_learns_what_strong_records_look_like_and_keeps_them(tmp_path):
    write_jsonl(tmp_path / "pool.jsonl", _pool())
    steps = [{"use": "select.preselect", "with": {"min_positives": 10, "fraction": 0.5, "epoch": 25, "lr": 0.5}}]
    result = run_recipe(tmp_path, [{"path": str(tmp_path / "pool.jsonl"), "keep": ["score_predictive"]}], steps)
    final = result.final()
    assert final.height == 40 and (final["score_predictive"] == 1.0).mean() >= 0.9
    stats = next(s for s in result.manifest["stages"] if s["step"] == "select.preselect")["stats"]
    assert stats["positive_rule"] == "strength 1.0" and stats["positives"] == 40 and stats["negatives"] == 40
    classifier = result.dir / "cache" / "preselect.bin"
    assert classifier.is_file() and stats["held_out"]["valid"] == 8
    rejected = pl.read_parquet(result.dir / "rejected.parquet")
    assert set(rejected["reason"]) == {"not_preselected"}
    rescored = run_recipe(tmp_path / "again", [{"path": str(tmp_path / "pool.jsonl")}],   # reusable as score.fasttext
                          [{"use": "score.fasttext", "with": {"model": str(classifier), "prefix": "p"}}]).final()
    assert rescored["p_pos"].is_between(0, 1).all()


def test_preselect_reads_and_scores_the_pool_in_chunks_and_the_chunks_change_nothing(tmp_path, monkeypatch):
    """The classifier scores the pool chunk by chunk (never every text in memory at once), each
    chunk spread over worker processes; with chunks of 7 records so spread, the selection, scores
    and ledger are those of one chunk scored in this process."""
    import curate.models.fasttext_model as ft
    import curate.steps.select.preselect as preselect
    write_jsonl(tmp_path / "pool.jsonl", _pool(30) + [{"instruction": f"Say something about topic {k}.",
                                                       "output": f"Topic {k} is fine.", "score_predictive": None}
                                                      for k in range(25)])      # never scored: no strength
    inputs = [{"path": str(tmp_path / "pool.jsonl"), "keep": ["score_predictive"]}]
    steps = [{"use": "select.preselect", "with": {"min_positives": 10, "fraction": 0.4, "epoch": 25, "lr": 0.5}}]
    whole = run_recipe(tmp_path / "whole", inputs, steps)
    monkeypatch.setattr(preselect, "CLASSIFY_ROWS", 7)
    monkeypatch.setattr(ft, "PARALLEL_MIN", 3)
    chunked = run_recipe(tmp_path / "chunked", inputs, steps)
    assert whole.final().height == 34
    for name in ("final.parquet", "rejected.parquet"):
        assert (chunked.dir / name).read_bytes() == (whole.dir / name).read_bytes()


def test_preselect_says_how_many_positives_it_had(tmp_path):
    from curate.errors import ConfigError
    write_jsonl(tmp_path / "pool.jsonl", _pool(4))
    with pytest.raises(ConfigError, match=r"1 positives and 1 negatives from 8 scored records; at least 10"):
        run_recipe(tmp_path, [{"path": str(tmp_path / "pool.jsonl"), "keep": ["score_predictive"]}],
                   [{"use": "select.preselect", "with": {"min_positives": 10}}])


def test_probes_builds_a_scored_family_that_predictive_strength_reads_from_a_sample(tmp_path, cli, monkeypatch):
    """`curate probes`: the base and one training run continued through each budget, each scored
    on the suite (a budget added later trains only itself); the YAML it writes is a probes_file,
    and `sample` scores only that many records."""
    import yaml
    import curate.train.loop as loop
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    tiny = make_tiny_llama(tmp_path / "tiny", seed=3)
    write_jsonl(tmp_path / "train.jsonl", [{"instruction": f"Say the word {w}.", "output": w}
                                           for w in ["apple", "pear", "plum", "fig", "lime", "kiwi"] * 4])
    write_jsonl(tmp_path / "eval.jsonl", [{"instruction": f"Say the word {w}.", "output": w}
                                          for w in ["apple", "plum", "kiwi"]])
    (tmp_path / "suite.yaml").write_text("inputs: [{path: eval.jsonl}]\nscorer: ref_loss\ngroup_by: null\n")
    runs = []
    real = loop.Trainer.run
    monkeypatch.setattr(loop.Trainer, "run", lambda self: runs.append(self.cfg.max_tokens) or real(self))
    args = ["probes", "--suite", tmp_path / "suite.yaml", "--model", tiny, "--train", tmp_path / "train.jsonl",
            "--lr", "0.02", "--out", tmp_path / "probes.yaml", "-q"]
    few = cli(*args, "--budgets", "100,200")
    assert few.exit_code != 0 and "3 distinct scores" in few.output and "needs 5" in few.output
    result = cli(*args, "--budgets", "100,200,300,400")
    assert result.exit_code == 0, result.output
    assert runs == [100, 100, 100, 100]                      # 100, 200 reused; 300 and 400 continue them
    written = yaml.safe_load((tmp_path / "probes.yaml").read_text())
    family = written["probes"]
    assert written["lower_is_better"] is True                # ref_loss: the scores are losses
    assert [p.get("name") for p in family] == ["base", "tokens_100", "tokens_200", "tokens_300", "tokens_400"]
    assert all(Path(p["adapter"], "adapter_config.json").is_file() for p in family[1:])
    assert family[-1]["score"] < family[0]["score"]          # ref_loss: training on the task lowers it
    write_jsonl(tmp_path / "d.jsonl", [{"instruction": f"Tell me about the number {k}.",
                                        "output": f"The number {k} comes after {k - 1} and before {k + 1}."}
                                       for k in range(10)])
    step = [{"use": "score.predictive_strength",
             "with": {"probes_file": str(tmp_path / "probes.yaml"), "sample": 4}}]
    run = run_recipe(tmp_path / "r", [{"path": str(tmp_path / "d.jsonl")}], step)
    final = run.final()
    assert final["score_predictive"].is_not_null().sum() == 4 and final["score_bpc_tokens_400"].is_not_null().sum() == 4
    stats = next(s for s in run.manifest["stages"] if s["step"] == "score.predictive_strength")["stats"]
    assert stats["unscored"] == {"not in the sample": 6} and stats["probes"]["base"] == family[0]["score"]
    bpc = final.drop_nulls("score_predictive").select([f"score_bpc_{p['name']}" for p in family]).to_numpy()
    losses = np.array([p["score"] for p in family])
    assert np.allclose(final.drop_nulls("score_predictive")["score_predictive"].to_numpy(),
                       predictive_strength(bpc, -losses))     # the lower loss is the better probe
    again = run_recipe(tmp_path / "r2", [{"path": str(tmp_path / "d.jsonl")}], step).final()
    assert again["score_predictive"].is_not_null().to_list() == final["score_predictive"].is_not_null().to_list()


def test_a_probes_file_with_too_few_probes_is_an_error_naming_the_file(tmp_path):
    from curate.errors import ConfigError
    write_jsonl(tmp_path / "d.jsonl", [{"instruction": "Tell me a long story about cats.", "output": "Once upon a time."}])
    (tmp_path / "probes.yaml").write_text("probes:\n  - {model: a, score: 0.1}\n  - {model: b, score: 0.2}\n")
    with pytest.raises(ConfigError, match=r"probes.yaml: 2 probe models given: at least 5"):
        run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}],
                   [{"use": "score.predictive_strength", "with": {"probes_file": str(tmp_path / "probes.yaml")}}])


def test_scoring_many_texts_in_worker_processes_gives_the_same_probabilities(tmp_path, monkeypatch):
    import curate.models.fasttext_model as ft
    rows = [f"__label__{'pos' if k % 2 else 'neg'} {'bread yeast flour' if k % 2 else 'noise zzz qqq'} {k}"
            for k in range(200)]
    ft.train_rows(rows, tmp_path / "m.bin", 0.1, 5, 0.5, 2, 16, 0)
    texts = [r.split(" ", 1)[1] for r in rows] * 5
    here = ft.predict_all(ft.load(tmp_path / "m.bin"), texts)
    monkeypatch.setattr(ft, "PARALLEL_MIN", 10)
    spread = ft.predict_many(tmp_path / "m.bin", texts, workers=2)
    assert set(spread) == {"pos", "neg"} and all(np.array_equal(here[k], spread[k]) for k in here)


def test_training_the_same_rows_again_in_one_process_gives_the_same_classifier(tmp_path):
    """fastText's training, even with one thread and a seed, depended on what had run before it in
    the process: a second training of the same rows gave another model (and preselect another
    selection). Training runs in a fresh process, so every training of these rows is the same."""
    import random
    import curate.models.fasttext_model as ft
    rng = random.Random(1)
    words = [f"w{i}" for i in range(300)]
    rows = [f"__label__{'pos' if k % 2 else 'neg'} " +
            " ".join(rng.choice(words[:150] if k % 2 and rng.random() < .6 else words) for _ in range(40))
            for k in range(120)]
    models = [tmp_path / f"m{k}.bin" for k in range(3)]
    for model in models:
        ft.train_rows(rows, model, 0.1, 3, 0.1, 2, 64, 0)
    assert len({m.read_bytes() for m in models}) == 1


def test_a_classifier_trained_again_into_the_same_file_is_loaded_again(tmp_path):
    """A process that loaded a classifier (a worker that scored a run's PreSelect chunks) must not
    keep scoring with it once the file holds a newer one (the run trained again)."""
    import curate.models.fasttext_model as ft
    rows = [f"__label__{'pos' if k % 2 else 'neg'} {'bread yeast flour' if k % 2 else 'noise zzz qqq'} {k}"
            for k in range(200)]
    ft.train_rows(rows, tmp_path / "m.bin", 0.1, 5, 0.5, 2, 16, 0)
    before = ft.predict_all(ft.load(tmp_path / "m.bin"), ["bread yeast flour"])["pos"][0]
    flipped = [r.replace("__label__pos", "__label__x").replace("__label__neg", "__label__pos")
               .replace("__label__x", "__label__neg") for r in rows]
    ft.train_rows(flipped, tmp_path / "m.bin", 0.1, 5, 0.5, 2, 16, 0)
    after = ft.predict_all(ft.load(tmp_path / "m.bin"), ["bread yeast flour"])["pos"][0]
    assert before > 0.9 and after < 0.1
