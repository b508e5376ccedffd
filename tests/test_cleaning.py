"""Cleaning operators with the real parts: rensa MinHash, fastText (lid.176 and a trained model),
and the default cleaning recipe on the project's sample data."""

from __future__ import annotations

import json

import polars as pl
import pytest

from curate.errors import ConfigError
from conftest import ROOT, run_recipe, write_jsonl

MESSY = ROOT / "data" / "sample_messy.jsonl"
EVAL = ROOT / "data" / "sample_eval.jsonl"


def read_stage0(res) -> pl.DataFrame:
    return pl.read_parquet(res.dir / "stages" / "00-read.parquet")


def rejected_with_records(res) -> pl.DataFrame:
    return res.rejected().join(read_stage0(res), on=["id", "origin"])


def test_clean_recipe_catches_each_planted_problem_with_its_step(tmp_path, cli):
    """Every messy record is rejected by the step named in its `expect` (PII is masked, not
    rejected), every good one is kept."""
    recipe = (ROOT / "recipes" / "clean.yaml").read_text()
    (tmp_path / "data").mkdir()
    for name in ("sample.jsonl", "sample_chat.jsonl", "sample_messy.jsonl", "sample_eval.jsonl"):
        (tmp_path / "data" / name).write_bytes((ROOT / "data" / name).read_bytes())
    recipe = recipe.replace("    source: messy\n", "    source: messy\n    keep: [expect]\n")
    (tmp_path / "clean.yaml").write_text(recipe)
    result = cli("run", tmp_path / "clean.yaml")
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "runs").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    ledger = pl.read_parquet(run_dir / "rejected.parquet")
    read = pl.read_parquet(run_dir / "stages" / "00-read.parquet").filter(pl.col("source") == "messy")
    final = pl.read_parquet(run_dir / "final.parquet")
    got = read.join(ledger, on=["id", "origin"], how="left")
    stage_step = {i: s["step"] for i, s in enumerate(manifest["stages"])}
    for row in got.iter_rows(named=True):
        if row["expect"] in ("keep", "filter.pii"):
            assert row["reason"] is None, (row["instruction"], row["reason"], row["detail"])
        else:
            assert row["reason"] is not None, (row["instruction"], "was kept", row["expect"])
            assert stage_step[row["stage"]] == row["expect"], (row["instruction"], row["reason"], row["detail"])
    text = " ".join(final["response"].to_list())
    assert "[EMAIL]" in text and "[PHONE]" in text and "[IP_ADDRESS]" in text and "api_key = '[API_KEY]'" in text
    assert "jane.doe@example.com" not in text
    pii_stats = manifest["stages"][[s["step"] for s in manifest["stages"]].index("filter.pii")]["stats"]
    assert pii_stats["pii_email"] == 1 and pii_stats["pii_api_key"] == 1
    assert {"lang_instruction", "lang_response_score"} <= set(final.columns)


def test_near_dedup_finds_planted_copies_with_the_expected_twin(tmp_path):
    import random
    rng = random.Random(0)
    vocab = ("bread dough oven flour water salt yeast knead rise bake crust crumb warm bowl towel hour minute "
             "shape loaf score steam rack cool slice butter honey seed rye wheat starter jar spoon scale").split()
    base = [{"instruction": " ".join(rng.choices(vocab, k=12)).capitalize() + "?",
             "output": " ".join(rng.choices(vocab, k=30)).capitalize() + "; " + " ".join(rng.choices(vocab, k=8)) + "."}
            for _ in range(40)]
    third_word = base[12]["output"].split()[2]
    copies = [dict(base[3], instruction=base[3]["instruction"].upper()),                 # case
              dict(base[7], output=base[7]["output"].replace(";", ",").replace(".", "!")),  # punctuation
              dict(base[12], output=base[12]["output"].replace(f" {third_word} ", " pumpernickel ", 1))]  # one word
    other = [{"instruction": "What is the tallest mountain on Earth?", "output": "Mount Everest, at 8,849 m."}]
    write_jsonl(tmp_path / "a.jsonl", base)
    write_jsonl(tmp_path / "b.jsonl", copies + other)         # a second source: cross-dataset dedup
    res = run_recipe(tmp_path, [{"path": "a.jsonl"}, {"path": "b.jsonl"}], [{"use": "dedup.near"}])
    ledger = rejected_with_records(res)
    assert ledger["reason"].unique().to_list() == ["near_duplicate"]
    assert sorted(ledger["origin"].to_list()) == ["b.jsonl:1", "b.jsonl:2", "b.jsonl:3"]
    kept_ids = dict(zip(read_stage0(res)["origin"], read_stage0(res)["id"]))
    for copy_line, base_line in ((1, 4), (2, 8), (3, 13)):
        detail = ledger.filter(pl.col("origin") == f"b.jsonl:{copy_line}")["detail"].item()
        assert f"to kept {kept_ids[f'a.jsonl:{base_line}']} (a.jsonl:{base_line})" in detail
    assert res.final().height == 41
    stats = res.manifest["stages"][1]["stats"]
    assert stats["near_duplicate_groups"] == 3 and stats["bands"] * stats["rows_per_band"] <= 128


def test_near_dedup_keep_rule_longest_response(tmp_path):
    text = "Explain how a bicycle gear system lets a rider climb steep hills with less effort today."
    rows = [{"instruction": text, "output": "Lower gears trade speed for force, so each pedal stroke needs less effort."},
            {"instruction": text, "output": "Lower gears trade speed for force, so each pedal stroke needs less effort "
                                            "on the climb."}]
    write_jsonl(tmp_path / "d.jsonl", rows)
    res = run_recipe(tmp_path, [{"path": "d.jsonl"}],
                     [{"use": "dedup.near", "with": {"keep": "longest_response", "threshold": 0.7}}])
    assert res.final()["origin"].to_list() == ["d.jsonl:2"]


def test_near_dedup_keeps_signatures_in_a_file_that_matches_memory_and_is_removed(tmp_path):
    """Band keys made block by block equal those of the whole signature matrix; similarities read
    back from the file equal the in-memory ones; nothing is left in the folder afterwards."""
    import numpy as np
    from curate.steps.common.minhash import band_keys, signatures
    from curate.steps.common.signature_file import SignatureFile
    texts = pl.Series([f"record {i % 700} about topic {i % 13} and more words here" for i in range(2500)] + [""])
    sig, has = signatures(texts, "chars", 5, 64, 1)
    with SignatureFile(tmp_path, 64, 8, 8) as signed:
        for start in range(0, len(texts), 999):
            signed.add(sig[start:start + 999], has[start:start + 999])
        signed.finish()
        assert np.array_equal(signed.keys[:, 3], band_keys(sig[:, 24:32])) and np.array_equal(signed.has, has)
        rng = np.random.default_rng(0)
        a, b = rng.integers(0, len(texts), 200_000), rng.integers(0, len(texts), 200_000)
        assert np.array_equal(signed.similarity(a, b), (sig[a] == sig[b]).mean(axis=1).astype(np.float32))
        assert not has[-1] and list(tmp_path.iterdir()) == [signed.path]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("step,config,bad,good", [
    ("filter.trivial", {}, "...", "7"),
    ("filter.echo", {}, "Write a haiku about autumn leaves falling down",
     "Red leaves drift and fall / the cold wind carries them home / autumn says goodbye"),
    ("filter.refusal", {}, "As an AI language model, I cannot write haiku.", "Leaves fall in silence."),
    ("filter.repetition", {}, "the leaves fall down " * 10, "Leaves fall in silence while the wind carries them far away."),
    ("filter.chars", {}, "Result: 12345 67890 12345 67890 12345 67890 1234", "The result is 42, as computed above."),
    ("filter.chars", {}, "Hello\x00\x01 and welcome to the team!", "Hello and welcome to the team!"),
    ("filter.markup", {}, "Use this:\n```python\nprint('hi')\n", "Use this:\n```python\nprint('hi')\n```"),
    ("filter.truncated", {}, "Autumn is the season in which the leaves of deciduous trees turn red and yellow and",
     "Autumn is the season in which the leaves of deciduous trees turn red and yellow."),
    ("filter.long_lines", {"max_chars": 100}, "word " * 40, "word\n" * 40),
])
def test_each_heuristic_rejects_a_crafted_bad_record_and_keeps_a_good_one(tmp_path, step, config, bad, good):
    instruction = "Write a haiku about autumn leaves falling down"
    write_jsonl(tmp_path / "h.jsonl", [{"instruction": instruction, "output": bad},
                                       {"instruction": instruction, "output": good}])
    res = run_recipe(tmp_path, [{"path": "h.jsonl"}], [{"use": step, "with": config}])
    assert res.final()["response"].to_list() == [good]
    ledger = res.rejected()
    assert ledger.height == 1 and ledger["detail"].item().startswith("response: ")


def test_missing_field_is_skipped_or_rejected_as_configured(tmp_path):
    write_jsonl(tmp_path / "p.jsonl", [{"instruction": "Tell me about the Moon.", "output": "It orbits Earth."}])
    skip = run_recipe(tmp_path, [{"path": "p.jsonl"}], [{"use": "filter.truncated", "with": {"fields": ["context"]}}],
                      name="s")
    assert skip.final().height == 1                       # no context at all: the check is skipped
    reject = run_recipe(tmp_path, [{"path": "p.jsonl"}],
                        [{"use": "filter.truncated", "with": {"fields": ["context"], "on_missing": "reject"}}], name="r")
    assert reject.rejected()[["reason", "detail"]].row(0) == ("missing_field", "context is missing")
    with pytest.raises(ConfigError, match="field 'answer' is not a column"):
        run_recipe(tmp_path, [{"path": "p.jsonl"}], [{"use": "filter.refusal", "with": {"fields": ["answer"]}}], name="x")


def test_language_filter_tags_and_drops_other_languages(tmp_path):
    rows = [{"instruction": "Explain how rainbows form after a summer storm.",
             "output": "Sunlight is refracted and reflected inside raindrops, splitting it into colours."},
            {"instruction": "Explique comment se forment les arcs-en-ciel après un orage.",
             "output": "La lumière du soleil est réfractée et réfléchie dans les gouttes de pluie."},
            {"instruction": "Explain how rainbows form after a summer storm, in German.",
             "output": "Das Sonnenlicht wird in den Regentropfen gebrochen und reflektiert, so entstehen Farben."}]
    write_jsonl(tmp_path / "l.jsonl", rows)
    res = run_recipe(tmp_path, [{"path": "l.jsonl"}], [{"use": "filter.language", "with": {
        "languages": ["en"], "fields": ["instruction"], "mismatch": "tag"}}], name="a")
    final = res.final()
    assert final["lang_instruction"].to_list() == ["en", "en"]
    assert res.rejected()["detail"].item().startswith("instruction: fr (")
    both = run_recipe(tmp_path, [{"path": "l.jsonl"}], [{"use": "filter.language", "with": {
        "fields": ["instruction", "response"], "mismatch": "reject"}}], name="b")
    assert both.rejected()["reason"].to_list() == ["language_mismatch"]
    assert both.rejected()["detail"].item() == "instruction=en, response=de"


def test_pii_mask_and_drop(tmp_path):
    rows = [{"instruction": "Reply to the customer.", "output": "Sure, write to help@shop.example.org or call "
             "+1 415 555 0100. Card 4242 4242 4242 4242 is on file; order 1234 5678 9012 3456 is not a card."},
            {"instruction": "Say hi.", "output": "Hi there!"}]
    write_jsonl(tmp_path / "pii.jsonl", rows)
    masked = run_recipe(tmp_path, [{"path": "pii.jsonl"}], [{"use": "filter.pii"}], name="m").final()
    text = masked["response"][0]
    assert "[EMAIL]" in text and "[PHONE]" in text and "Card [CREDIT_CARD] is on file" in text
    assert "1234 5678 9012 3456" in text          # fails the Luhn check: not a card
    dropped = run_recipe(tmp_path, [{"path": "pii.jsonl"}], [{"use": "filter.pii", "with": {"action": "drop"}}],
                         name="d")
    assert dropped.final()["response"].to_list() == ["Hi there!"]
    assert dropped.rejected()["detail"].item() == "found email, credit_card, phone"


def test_decontamination_catches_a_planted_eval_item_and_names_it(tmp_path):
    long_q = "At sea level, what is the boiling point of water in degrees Celsius?"     # 13 words
    rows = [{"instruction": f"Quiz time: {long_q} Answer briefly.", "output": "100"},
            {"instruction": "Who was the author of Pride and Prejudice?", "output": "Jane Austen"},   # 8 words
            {"instruction": "What is the boiling point of water on a mountain?", "output": "Lower than 100 C."}]
    write_jsonl(tmp_path / "train.jsonl", rows)
    res = run_recipe(tmp_path, [{"path": "train.jsonl"}], [{"use": "filter.decontaminate", "with": {
        "evals": [str(EVAL)], "fields": ["instruction"]}}])
    ledger = rejected_with_records(res)
    assert sorted(ledger["origin"].to_list()) == ["train.jsonl:1", "train.jsonl:2"]
    details = dict(zip(ledger["origin"], ledger["detail"]))
    assert details["train.jsonl:1"].endswith("sample_eval.jsonl:2")
    assert details["train.jsonl:2"].endswith("sample_eval.jsonl:1")
    stats = res.manifest["stages"][1]["stats"]
    assert stats["eval_items"] == 6 and stats["eval_items_too_short"] == 3


def test_decontamination_eval_set_in_an_unreadable_format_is_a_clear_error(tmp_path):
    (tmp_path / "evals.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    write_jsonl(tmp_path / "t.jsonl", [{"instruction": "a b c d e f g h", "output": "x"}])
    with pytest.raises(Exception, match="evals.bin"):
        run_recipe(tmp_path, [{"path": "t.jsonl"}], [{"use": "filter.decontaminate", "with": {
            "evals": [str(tmp_path / "evals.bin")]}}])


def test_fasttext_train_then_score_and_select_top(tmp_path, cli):
    cooking = ["Bake the bread at 220 degrees until the crust is golden.", "Simmer the soup with onions and garlic.",
               "Whisk the eggs with sugar, then fold in the flour.", "Season the roast with salt and rosemary."]
    code = ["Define a function that returns the sum of a list.", "Use a dictionary to count word frequencies.",
            "Write a loop that prints the numbers from one to ten.", "Catch the exception and log the error message."]
    rows = [{"instruction": f"{t} ({i})", "output": "ok", "label": lab}
            for i in range(30) for lab, group in (("cooking", cooking), ("code", code)) for t in group]
    write_jsonl(tmp_path / "labelled.jsonl", rows)
    out = tmp_path / "topic.bin"
    result = cli("fasttext", "train", tmp_path / "labelled.jsonl", "--label-field", "label", "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "topic.bin.json").read_text())
    assert report["labels"] == {"cooking": 120, "code": 120} and report["valid_precision_at_1"] >= 0.9
    assert out.stat().st_size < 16 * 2**20, "buckets not sized to the data (the default makes 512 MB)"
    write_jsonl(tmp_path / "new.jsonl", [
        {"instruction": "Roast the vegetables with olive oil and garlic.", "output": "ok"},
        {"instruction": "Write a function that reverses a list.", "output": "ok"},
        {"instruction": "Knead the dough and let it rise before baking the bread.", "output": "ok"}])
    res = run_recipe(tmp_path, [{"path": "new.jsonl"}], [
        {"use": "score.fasttext", "with": {"model": str(out), "prefix": "topic"}},
        {"use": "select.top", "with": {"column": "topic_cooking", "n": 2}}])
    final = res.final()
    assert final["origin"].to_list() == ["new.jsonl:1", "new.jsonl:3"]
    assert (final["topic_cooking"] > 0.5).all()
    assert res.rejected()["reason"].to_list() == ["not_top"]


def test_select_top_by_fraction_of_characters(tmp_path):
    rows = [{"instruction": f"q{i}", "output": "x" * (10 * (i + 1)), "score": float(i)} for i in range(10)]
    write_jsonl(tmp_path / "s.jsonl", rows)
    res = run_recipe(tmp_path, [{"path": "s.jsonl", "keep": ["score"]}], [
        {"use": "select.top", "with": {"column": "score", "char_fraction": 0.5, "char_field": "response"}}])
    kept = sorted(int(s) for s in res.final()["score"].cast(pl.Float64).to_list())
    assert kept == [6, 7, 8, 9]      # 100+90+80+70 = 340 of 550 chars: the first prefix reaching half


@pytest.mark.parametrize("content,match", [(None, "does not exist"), (b"not a fasttext model", "cannot load fastText")])
def test_fasttext_model_missing_or_corrupt_is_a_clear_error(tmp_path, content, match):
    model = tmp_path / "m.bin"
    if content is not None:
        model.write_bytes(content)
    write_jsonl(tmp_path / "t.jsonl", [{"instruction": "hi", "output": "there"}])
    with pytest.raises(ConfigError, match=match):
        run_recipe(tmp_path, [{"path": "t.jsonl"}], [{"use": "score.fasttext", "with": {"model": str(model)}}])


def test_huge_and_odd_records_go_through_every_step(tmp_path):
    """A 2 MB response, a record with invalid UTF-8 bytes (replaced at read), and empty texts."""
    big = ("word " * 400_000).strip()
    path = tmp_path / "odd.jsonl"
    lines = [json.dumps({"instruction": "Write a lot.", "output": big}),
             json.dumps({"instruction": "Empty answer?", "output": ""}),
             json.dumps({"instruction": "Normal question about rivers and their deltas?",
                         "output": "Rivers deposit sediment where they meet the sea, building deltas."})]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"instruction": "Bad \xff byte", "output": "ok then"}\n')
    steps = [{"use": s} for s in ("filter.trivial", "filter.repetition", "filter.chars", "filter.markup",
                                  "filter.truncated", "dedup.near")]
    steps.insert(0, {"use": "filter.long_lines"})
    res = run_recipe(tmp_path, [{"path": "odd.jsonl", "on_error": "quarantine"}], steps)
    reasons = dict(zip(res.rejected()["origin"], res.rejected()["reason"]))
    assert reasons["odd.jsonl:1"] == "long_line" and reasons["odd.jsonl:2"] == "trivial_response"
    assert reasons["odd.jsonl:4"] == "encoding_error"
    assert "odd.jsonl:3" in res.final()["origin"].to_list()
