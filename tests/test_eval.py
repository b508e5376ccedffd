"""Eval suites: scorers on hand-checked cases, batched generation equal to one-at-a-time, suite files,
adapters, and the outputs a user queries."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from curate.errors import ConfigError
from curate.evals import scorers as S
from conftest import make_tiny_llama, write_jsonl


@pytest.mark.parametrize("fn,pred,refs,expected", [
    (S.exact_match, "The Eiffel Tower.", ["eiffel tower"], 1.0),
    (S.exact_match, "Eiffel", ["eiffel tower"], 0.0),
    (S.exact_match, "The output will be 47.", ["47"], 1.0),
    (S.exact_match, "Answer: \"Paris\"\nIt is the capital.", ["paris"], 1.0),
    (S.exact_match, "48\nThe output is 47", ["47"], 0.0),
    (S.exact_match, "The output will be 1 + 20 = 21.", ["21"], 1.0),
    (S.exact_match, "The output will be 1 + 43 = 143.", ["44"], 0.0),
    (S.exact_match, "I think 47 or 48", ["47"], 0.0),
    (S.numeric_match, "She pays 3 * 6 = 18 dollars.\n#### 18", ["... #### 18"], 1.0),
    (S.numeric_match, "The total is 1,250.", ["#### 1250"], 1.0),
    (S.numeric_match, "The answer is 17.", ["#### 18"], 0.0),
    (S.multiple_choice, "(B) because the second", ["(B)"], 1.0),
    (S.multiple_choice, "A", ["(B)"], 0.0),
    (S.contains_all, "Paris and Rome are capitals.", ["paris", "rome"], 1.0),
    (S.contains_all, "Paris is a capital.", ["paris", "rome"], 0.0),
])
def test_scorers_on_hand_checked_cases(fn, pred, refs, expected):
    assert fn(pred, refs) == expected


def test_squad_f1():
    # normalised "in year 1902" against "1902": precision 1/3, recall 1, F1 0.5; the best reference counts
    assert S.squad_f1("in the year 1902", ["1902"]) == pytest.approx(0.5)
    assert S.squad_f1("in the year 1902", ["1902", "the year 1902"]) == pytest.approx(0.8)


def test_rouge_l_and_faithfulness():
    assert S.rouge_l("the cat sat on the mat", ["the cat sat on the mat"]) == pytest.approx(1.0)
    assert 0.3 < S.rouge_l("the cat sat", ["the cat sat on the mat"]) < 0.8
    assert S.faithfulness("No, according to the passage.", ["no"], ["yes"]) == 1.0
    assert S.faithfulness("Yes. Well, the passage says no.", ["no"], ["yes"]) == 0.0
    assert S.faithfulness("I know nothing.", ["no"], ["yes"]) == 0.0          # "nothing" is not "no"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-eval"), seed=1)


def test_batched_generation_equals_one_at_a_time(tiny):
    from curate.models.greedy import generate
    from curate.models.lm import load_for_eval
    model, tokenizer = load_for_eval(tiny, None, "cpu")
    conversations = [[{"role": "user", "content": text}] for text in
                     ["Hi", "Tell me a long story about a dragon and a knight", "2+2?", "Name three colours please"]]
    batched = generate(model, tokenizer, conversations, max_new_tokens=8, batch_size=4)
    single = [generate(model, tokenizer, [c], max_new_tokens=8, batch_size=1)[0] for c in conversations]
    assert batched == single


def test_eval_on_a_suite_file_writes_predictions_and_summary(tiny, tmp_path, cli):
    write_jsonl(tmp_path / "items.jsonl", [{"instruction": f"Say {w}.", "output": w, "kind": k}
                                           for w, k in [("yes", "a"), ("no", "a"), ("maybe", "b")]])
    (tmp_path / "suite.yaml").write_text("inputs:\n  - path: items.jsonl\n    task: '{stem}'\n"
                                         "scorer: exact_match\nmax_new_tokens: 4\n")
    result = cli("eval", "--model", tiny, "--suite", tmp_path / "suite.yaml", "--out", tmp_path / "ev")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    preds = pl.read_parquet(tmp_path / "ev" / "predictions.parquet")
    assert summary["items"] == 3 and preds.height == 3
    assert set(preds.columns) == {"id", "origin", "group", "prompt", "prediction", "answers", "score"}
    assert preds["answers"].to_list() == [["yes"], ["no"], ["maybe"]]
    assert summary["score"] == pytest.approx(preds["score"].mean())
    queried = cli("sql", tmp_path / "ev", "SELECT count(*) AS n FROM predictions", "--format", "csv")
    assert queried.exit_code == 0 and queried.output.strip().splitlines()[-1] == "3", queried.output
    answers = cli("sql", tmp_path / "ev", "SELECT answers[1] AS a FROM predictions", "--format", "csv")
    assert answers.exit_code == 0 and answers.output.split() == ["a", "yes", "no", "maybe"], answers.output
    nothing = cli("eval", "--model", tiny, "--suite", tmp_path / "suite.yaml", "--out", tmp_path / "e0", "--limit", "0")
    assert nothing.exit_code == 2 and "--limit" in nothing.output and not (tmp_path / "e0").exists()
    from curate.evals.run import evaluate
    with pytest.raises(ConfigError, match="limit 0: evaluating no item measures nothing"):
        evaluate(tiny, str(tmp_path / "suite.yaml"), tmp_path / "e0", limit=0)


def test_suite_with_unknown_scorer_lists_the_valid_ones(tmp_path):
    from curate.evals.suites import load_suite
    (tmp_path / "bad.yaml").write_text("inputs: [{path: x.jsonl}]\nscorer: bleu\n")
    with pytest.raises(ConfigError, match="unknown scorer 'bleu'; valid scorers: exact_match, squad_f1"):
        load_suite(str(tmp_path / "bad.yaml"))
    with pytest.raises(ConfigError, match="unknown suite 'mmlu'"):
        load_suite("mmlu")


def test_adapter_that_does_not_match_the_model_is_a_clear_error(tiny, tmp_path):
    from curate.models.lm import load_for_eval
    from curate.train.config import TrainConfig
    from curate.train.loop import Trainer
    write_jsonl(tmp_path / "qa.jsonl", [{"instruction": "Hi?", "output": "Hello."}] * 4)
    Trainer(TrainConfig(data=str(tmp_path / "qa.jsonl"), model=tiny, out=str(tmp_path / "t"), max_len=64),
            progress=False).run()
    with pytest.raises(ConfigError, match="does not match model"):
        load_for_eval("bundled:smollm2-135m-instruct", str(tmp_path / "t" / "adapter"), "cpu")
    with pytest.raises(ConfigError, match="not a LoRA adapter folder"):
        load_for_eval(tiny, str(tmp_path), "cpu")


def test_bootstrap_interval_covers_a_known_difference():
    from curate.evals.compare import bootstrap_diff
    rng = np.random.default_rng(0)
    items = 1500
    p = rng.uniform(0.2, 0.8, items)                     # item difficulty, shared by both arms (paired)
    base = (rng.random((3, items)) < p).astype(float)
    treat = (rng.random((3, items)) < np.clip(p + 0.1, 0, 1)).astype(float)
    r = bootstrap_diff(base, treat)
    assert r["low"] < 0.1 < r["high"] and r["verdict"] == "better"
    same = bootstrap_diff(base, (rng.random((3, items)) < p).astype(float))
    assert same["low"] < 0 < same["high"] and same["verdict"] == "inconclusive"
    assert bootstrap_diff(treat, base)["verdict"] == "worse"


def test_paired_seeds_let_a_shared_seed_effect_cancel():
    """Each seed moves both arms alike (the same initialisation and example order): resampled
    within each arm, that spread hides a small steady difference; paired by seed, it cancels."""
    from curate.evals.power import bootstrap_diff
    rng = np.random.default_rng(1)
    items = 40
    seed_shift = np.array([[-0.3], [0.0], [0.3]])             # what a seed does to every score
    item_level = rng.normal(2.0, 0.5, items)
    base = item_level + seed_shift + rng.normal(0, 0.01, (3, items))
    treat = base + 0.02 + rng.normal(0, 0.01, (3, items))
    assert bootstrap_diff(base, treat)["verdict"] == "inconclusive"
    paired = bootstrap_diff(base, treat, paired_seeds=True)
    assert paired["verdict"] == "better" and paired["low"] < 0.02 < paired["high"]
    assert bootstrap_diff(base, base, paired_seeds=True)["high"] == 0.0       # identical arms: no spread at all
    with pytest.raises(ValueError, match="same seeds"):
        bootstrap_diff(base, treat[:2], paired_seeds=True)


def test_detectable_difference_is_found_about_80_percent_of_the_time():
    """A true difference equal to the reported minimum detectable difference comes out "better" in
    about 80% of repeated comparisons, and the advice on items scales as 1/sqrt(items)."""
    from curate.evals.power import bootstrap_diff, items_needed, power_note
    rng = np.random.default_rng(1)
    items, seeds = 300, 2
    p = rng.uniform(0.2, 0.8, items)
    draw = lambda shift: (rng.random((seeds, items)) < np.clip(p + shift, 0, 1)).astype(float)  # noqa: E731
    null = bootstrap_diff(draw(0), draw(0), rounds=1000)
    mde = null["detectable"]
    assert 0.03 < mde < 0.2 and "can only detect differences of" in power_note(null)
    found = [bootstrap_diff(draw(0), draw(mde), rounds=500, seed=k)["verdict"] == "better" for k in range(40)]
    assert 0.6 <= np.mean(found) <= 0.97, np.mean(found)
    assert items_needed(null, mde / 2) == pytest.approx(4 * items, rel=0.01)


def test_compare_trains_both_arms_at_equal_cost_and_reports(tiny, tmp_path, cli):
    write_jsonl(tmp_path / "a.jsonl", [{"instruction": f"Say {w}.", "output": w} for w in ["yes", "no"] * 6])
    write_jsonl(tmp_path / "b.jsonl", [{"instruction": f"Repeat {w} twice.", "output": f"{w} {w}"}
                                       for w in ["yes", "no", "maybe"] * 6])
    (tmp_path / "suite.yaml").write_text("inputs: [{path: a.jsonl}]\nscorer: exact_match\nmax_new_tokens: 4\n"
                                         "group_by: null\n")
    result = cli("compare", "--baseline", tmp_path / "a.jsonl", "--treatment", tmp_path / "b.jsonl",
                 "--suite", tmp_path / "suite.yaml", "--model", tiny, "--seeds", "2", "--out", tmp_path / "cmp",
                 "--max-len", "64")
    assert result.exit_code == 0, result.output
    budgets = {json.loads(p.read_text())["tokens"] for p in (tmp_path / "cmp").glob("*/seed-*/train/summary.json")}
    assert len(budgets) == 1 and len(list((tmp_path / "cmp").glob("*/seed-*/train/summary.json"))) == 4
    report = (tmp_path / "cmp" / "report.md").read_text()
    assert "95% interval" in report and (tmp_path / "cmp" / "compare.png").is_file()
    assert "detectable (80% power)" in report
    assert "detect differences of" in result.output or "no difference could be measured" in result.output
    verdict = json.loads((tmp_path / "cmp" / "compare.json").read_text())[str(tmp_path / "suite.yaml")]["verdict"]
    assert verdict in ("better", "worse", "inconclusive")


def test_compare_reuses_an_arm_only_when_everything_that_made_it_is_the_same(tiny, tmp_path, cli, monkeypatch):
    import curate.evals.run as run_module
    from curate.train.loop import Trainer
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    calls = {"train": 0, "eval": 0}
    train, evaluate = Trainer.run, run_module.evaluate

    def counted_train(self):
        calls["train"] += 1
        return train(self)

    def counted_eval(*args, **kwargs):
        calls["eval"] += 1
        return evaluate(*args, **kwargs)
    monkeypatch.setattr(Trainer, "run", counted_train)
    monkeypatch.setattr(run_module, "evaluate", counted_eval)
    write_jsonl(tmp_path / "a.jsonl", [{"instruction": f"Say {w}.", "output": w} for w in ["yes", "no"] * 6])
    write_jsonl(tmp_path / "b.jsonl", [{"instruction": f"Repeat {w}.", "output": f"{w} {w}"} for w in ["yes", "no"] * 6])
    (tmp_path / "suite.yaml").write_text("inputs: [{path: a.jsonl}]\nscorer: exact_match\nmax_new_tokens: 4\n")

    def compare(*extra):
        calls.update(train=0, eval=0)
        result = cli("compare", "--baseline", tmp_path / "a.jsonl", "--treatment", tmp_path / "b.jsonl", "--suite",
                     tmp_path / "suite.yaml", "--model", tiny, "--seeds", "1", "--max-len", "64", *extra)
        assert result.exit_code == 0, result.output
        return dict(calls)
    assert compare("--out", tmp_path / "c1") == {"train": 2, "eval": 2}
    assert compare("--out", tmp_path / "c1") == {"train": 0, "eval": 0}          # the same: reused
    assert compare("--out", tmp_path / "c2") == {"train": 0, "eval": 0}          # also from another --out
    assert compare("--out", tmp_path / "c1", "--lr", "1e-3") == {"train": 2, "eval": 2}
    config = json.loads((tmp_path / "c1" / "baseline" / "seed-0" / "train" / "train_config.json").read_text())
    assert config["lr"] == 1e-3                                                   # not the old adapter
    assert compare("--out", tmp_path / "c1", "--lr", "1e-3", "--limit", "2") == {"train": 0, "eval": 2}
    write_jsonl(tmp_path / "b.jsonl", [{"instruction": f"Echo {w}.", "output": w} for w in ["yes", "no"] * 6])
    assert compare("--out", tmp_path / "c1", "--lr", "1e-3", "--limit", "2") == {"train": 1, "eval": 1}


def test_compare_items_auto_takes_the_items_a_target_needs_within_the_cap(tiny, tmp_path, cli, monkeypatch):
    """A pilot on the first 10 items sets the number: a target the pilot already reaches keeps 10;
    one beyond reach takes the cap, and the report says what the cap can detect."""
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    words = ["yes", "no", "maybe", "never", "always", "often"]
    write_jsonl(tmp_path / "a.jsonl", [{"instruction": f"Say {w}.", "output": w} for w in words * 2])
    write_jsonl(tmp_path / "b.jsonl", [{"instruction": f"Repeat {w}.", "output": f"{w} {w}"} for w in words * 2])
    write_jsonl(tmp_path / "items.jsonl", [{"instruction": f"Item {k}: say {words[k % 6]}.", "output": words[k % 6]}
                                           for k in range(60)])
    (tmp_path / "loss.yaml").write_text("inputs: [{path: items.jsonl}]\nscorer: ref_loss\ngroup_by: null\n")

    def compare(detect: str) -> dict:
        result = cli("compare", "--baseline", tmp_path / "a.jsonl", "--treatment", tmp_path / "b.jsonl", "--suite",
                     tmp_path / "loss.yaml", "--model", tiny, "--seeds", "1", "--max-len", "64", "--items", "auto",
                     "--detect", detect, "--items-cap", "40", "--out", tmp_path / "cmp")
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / "cmp" / "compare_setup.json").read_text())["items_auto"]
    easy = compare("100")
    assert easy[str(tmp_path / "loss.yaml")]["items_per_group"] == 10
    hard = compare("0.00001")
    assert hard[str(tmp_path / "loss.yaml")]["items_per_group"] == 40 and "over the cap" in \
        hard[str(tmp_path / "loss.yaml")]["why"]
    results = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert next(iter(results.values()))["items"] == 40
    assert "Items chosen by `--items auto`" in (tmp_path / "cmp" / "report.md").read_text()
    assert cli("compare", "--baseline", "a", "--treatment", "b", "--suite", "s", "--items", "some",
               "--out", tmp_path / "x").exit_code == 2


def _manual_logprob(model, prompt: list[int], cont: list[int]) -> float:
    """One sequence, one plain forward pass: the reference the batched scorer must equal."""
    import torch
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prompt + cont])).logits[0].float()
    lp = torch.log_softmax(logits[len(prompt) - 1:len(prompt) + len(cont) - 1], dim=-1)
    return float(lp.gather(-1, torch.tensor(cont)[:, None]).sum())


def test_choice_and_ref_loss_equal_one_sequence_at_a_time(tiny, tmp_path):
    from curate.evals.run import evaluate
    from curate.models.greedy import render_prompts
    from curate.models.lm import load_for_eval
    from curate.records import to_messages
    rows = [{"instruction": f"Pick the colour of item {i}.", "output": c, "opts": json.dumps(["red", "green", "blue"]),
             "gold": ["red", "green", "blue"].index(c)} for i, c in enumerate(["red", "blue", "green", "blue", "red"])]
    write_jsonl(tmp_path / "mc.jsonl", rows)
    (tmp_path / "mc.yaml").write_text("inputs: [{path: mc.jsonl, keep: [opts, gold]}]\nscorer: choice\n"
                                      "options_field: opts\ngold_field: gold\ngroup_by: null\n")
    summary = evaluate(tiny, str(tmp_path / "mc.yaml"), tmp_path / "e", batch_size=4)
    preds = pl.read_parquet(tmp_path / "e" / "predictions.parquet")
    model, tok = load_for_eval(tiny, None, "cpu")
    for row, pred in zip(rows, preds.iter_rows(named=True)):
        prompt = render_prompts(tok, [to_messages({"instruction": row["instruction"], "response": ""})[:-1]])[0]
        options = json.loads(row["opts"])
        manual = [_manual_logprob(model, prompt, tok(o, add_special_tokens=False)["input_ids"]) for o in options]
        assert pred["prediction"] == options[int(np.argmax(manual))]
        assert pred["score"] == float(int(np.argmax(manual)) == row["gold"])
        others = [m for k, m in enumerate(manual) if k != row["gold"]]
        assert pred["margin"] == pytest.approx(manual[row["gold"]] - max(others), abs=1e-3)
    assert set(summary) >= {"acc_norm", "margin"} and summary["items"] == 5
    (tmp_path / "loss.yaml").write_text("inputs: [{path: mc.jsonl}]\nscorer: ref_loss\ngroup_by: null\n")
    loss = evaluate(tiny, str(tmp_path / "loss.yaml"), tmp_path / "l")
    got = pl.read_parquet(tmp_path / "l" / "predictions.parquet")["score"].to_list()
    for row, value in zip(rows, got):
        prompt = render_prompts(tok, [to_messages({"instruction": row["instruction"], "response": ""})[:-1]])[0]
        cont = tok(row["output"], add_special_tokens=False)["input_ids"]
        assert value == pytest.approx(-_manual_logprob(model, prompt, cont) / len(cont), abs=1e-3)
    assert loss["lower_is_better"] is True


def test_a_choice_suite_without_options_names_the_item(tiny, tmp_path):
    from curate.evals.run import evaluate
    write_jsonl(tmp_path / "mc.jsonl", [{"instruction": "Pick.", "output": "red", "opts": "[\"red\", \"blue\"]"},
                                        {"instruction": "Pick again.", "output": "green", "opts": "[\"red\"]"}])
    (tmp_path / "mc.yaml").write_text("inputs: [{path: mc.jsonl, keep: [opts]}]\nscorer: choice\noptions_field: opts\n")
    with pytest.raises(ConfigError, match=r"suite file .*mc.yaml: item mc.jsonl:2 has 1 option\(s\)"):
        evaluate(tiny, str(tmp_path / "mc.yaml"), tmp_path / "e")


def test_options_in_columns_and_items_whose_options_are_the_same_text_are_counted(tiny, tmp_path):
    from curate.evals.run import evaluate
    write_jsonl(tmp_path / "mc.jsonl", [{"instruction": f"Q{i}", "output": a, "other": b}
                                        for i, (a, b) in enumerate([("yes", "no"), ("same", "same"), ("no", "yes")])])
    (tmp_path / "mc.yaml").write_text("inputs: [{path: mc.jsonl, keep: [other]}]\nscorer: choice\n"
                                      "options_fields: [response, other]\ngroup_by: null\n")
    summary = evaluate(tiny, str(tmp_path / "mc.yaml"), tmp_path / "e")
    preds = pl.read_parquet(tmp_path / "e" / "predictions.parquet")
    assert summary["items"] == 2 and summary["skipped"] == {"options not distinct": 1}
    assert preds["answers"].to_list() == [["yes"], ["no"]]         # the gold option is the response column


def test_prompts_longer_than_the_window_are_cut_from_the_left_and_counted(tiny, tmp_path):
    """The tiny model's window is 512 tokens: a 900-word prompt is scored on its last tokens, as
    one forward pass over the cut prompt scores it, and the summary counts it."""
    from curate.evals.run import evaluate
    from curate.models.greedy import render_prompts
    from curate.models.lm import load_for_eval
    from curate.records import to_messages
    long = "word " * 900 + "Now answer."
    write_jsonl(tmp_path / "l.jsonl", [{"instruction": long, "output": "yes"}, {"instruction": "Short?", "output": "no"}])
    (tmp_path / "l.yaml").write_text("inputs: [{path: l.jsonl}]\nscorer: ref_loss\ngroup_by: null\n")
    summary = evaluate(tiny, str(tmp_path / "l.yaml"), tmp_path / "e")
    assert summary["prompts_cut_to_window"] == 1
    model, tok = load_for_eval(tiny, None, "cpu")
    prompt = render_prompts(tok, [to_messages({"instruction": long, "response": ""})[:-1]])[0]
    cont = tok("yes", add_special_tokens=False)["input_ids"]
    cut = prompt[-(512 - len(cont)):]
    got = pl.read_parquet(tmp_path / "e" / "predictions.parquet")["score"][0]
    assert got == pytest.approx(-_manual_logprob(model, cut, cont) / len(cont), abs=1e-3)
    (tmp_path / "g.yaml").write_text("inputs: [{path: l.jsonl}]\nmax_new_tokens: 4\ngroup_by: null\n")
    assert evaluate(tiny, str(tmp_path / "g.yaml"), tmp_path / "g")["prompts_cut_to_window"] == 1


def test_compare_reads_a_loss_the_right_way_round_and_adds_the_margin(tmp_path):
    from curate.evals.compare import bootstrap_diff, metrics_of, oriented
    folder = tmp_path / "e"
    folder.mkdir()
    pl.DataFrame({"id": ["a"], "score": [1.0], "margin": [0.5]}).write_parquet(folder / "predictions.parquet")
    (folder / "summary.json").write_text(json.dumps({"score": 1.0}))
    assert metrics_of(folder, "mc") == [("mc", "score", False), ("mc (margin)", "margin", False)]
    (folder / "summary.json").write_text(json.dumps({"score": 1.0, "lower_is_better": True}))
    assert metrics_of(folder, "loss")[0] == ("loss (loss, lower is better)", "score", True)
    rng = np.random.default_rng(0)
    base = rng.normal(2.0, 0.1, (2, 200))
    lower = oriented(bootstrap_diff(base, base - 0.2), lower_is_better=True)
    assert lower["diff"] < 0 and lower["verdict"] == "better"


def test_built_in_suites_read_the_data_folder_the_setting_names(tmp_path, monkeypatch):
    from curate.evals.suites import load_suite
    monkeypatch.delenv("CURATE_DATA", raising=False)
    with pytest.raises(ConfigError, match="pass --data-dir DIR or set CURATE_DATA=DIR"):
        load_suite("ii-execute:sum")
    monkeypatch.setenv("CURATE_DATA", str(tmp_path))
    with pytest.raises(ConfigError, match=r"suite gsm8k: no data at .*gsm8k/test.jsonl.*openai/gsm8k"):
        load_suite("gsm8k")
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    assert load_suite("gsm8k").inputs[0]["path"] == str(tmp_path / "gsm8k" / "test.jsonl")
