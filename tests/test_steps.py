"""Behaviour of the first steps: normalize, length, exact dedup, where, sample, mix."""

from __future__ import annotations

import ftfy
import polars as pl
import pytest

from curate.errors import ConfigError
from curate.records import frame_from_rows
from curate.engines.local import run_frame
from curate.steps import Context, Result, build_config, step_class
from conftest import alpaca, run_recipe, write_jsonl


def make(name: str, **config):
    return step_class(name)(build_config(name, config), Context(seed=0))


def frame(rows: list[dict]) -> pl.DataFrame:
    base = {"context": None, "system": None, "history": None, "task": "", "source": "s"}
    return frame_from_rows([{**base, "origin": f"f:{i}", **r} for i, r in enumerate(rows)])


def test_normalize_matches_ftfy_and_tidies_whitespace():
    texts = ["The cafÃ© serves crÃ¨me brÃ»lÃ©e", "Tom &amp; Jerry", "plain ascii text", "itâ€™s",
             "x\u00a0y\u200b z", "line  \r\nnext\n\n\n\nend", "def f():\n    return 1   "]
    out = make("normalize.text").apply(frame([{"instruction": t, "response": "r"} for t in texts])).kept
    got = out["instruction"].to_list()
    assert got[0] == ftfy.fix_text(texts[0]) == "The café serves crème brûlée"
    assert got[1] == "Tom & Jerry" and got[2] == "plain ascii text" and got[3] == "it's"
    assert got[4] == "x y z"
    assert got[5] == "line\nnext\n\nend"
    assert got[6] == "def f():\n    return 1"  # indentation kept


def test_normalize_fast_path_agrees_with_ftfy_everywhere():
    import random
    rng = random.Random(0)
    alphabet = "abc XYZ 123 &;<>\t\n\r'\"é€ÃâÂ©\u00a0\u2019"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(400)]
    out = make("normalize.text", whitespace=False).apply(frame([{"instruction": t, "response": "r"}
                                                                for t in texts])).kept
    assert out["instruction"].to_list() == [ftfy.fix_text(t) for t in texts]


@pytest.mark.parametrize("unit,limit,kept", [("chars", 12, 2), ("words", 3, 2)])
def test_length_filter_units(unit, limit, kept):
    batch = frame([{"instruction": "q", "response": r} for r in ["short", "four words right here", "one two three"]])
    res = make("filter.length", unit=unit, min=limit).apply(batch)
    assert res.kept.height == kept
    assert res.rejected["reason"].to_list() == ["too_short"] * (3 - kept)
    assert f"< min {limit}" in res.rejected["detail"][0]


def test_length_filter_max_and_tokens():
    batch = frame([{"instruction": "q", "response": "word " * n} for n in (1, 50)])
    res = make("filter.length", unit="tokens", max=20).apply(batch)
    assert res.kept["response"].to_list() == ["word "] and res.rejected["reason"].to_list() == ["too_long"]
    assert "tokens > max 20" in res.rejected["detail"][0]


def run_step(name: str, rows: list[dict], batch_size: int = 50_000, **config) -> Result:
    """A step over `rows` as a run streams them (dataset-scope steps decide once, then batches)."""
    results = run_frame(make(name, **config), frame(rows), batch_size)
    return Result(kept=pl.concat([r.kept for r in results]), rejected=pl.concat([r.rejected for r in results]))


def test_exact_dedup_normalizes_and_keeps_first_across_batches():
    first, second = run_frame(make("dedup.exact"), frame([
        {"instruction": "Hello  World", "response": "Hi"}, {"instruction": "hello world", "response": "HI"},
        {"instruction": "hello world!", "response": "Hi"}]), batch_size=1)[:2]
    assert first.kept.height == 1
    assert second.kept.height == 0 and second.rejected["reason"].to_list() == ["exact_duplicate"]
    assert first.kept["id"][0] in second.rejected["detail"][0] and "(f:0)" in second.rejected["detail"][0]
    res = run_step("dedup.exact", [{"instruction": "a, b", "response": "x"}, {"instruction": "a b", "response": "x"},
                                   {"instruction": "A b", "response": "x"}], casefold=False, ignore_punctuation=True)
    assert res.kept["instruction"].to_list() == ["a, b", "A b"]


def test_exact_dedup_on_chosen_fields_only():
    res = run_step("dedup.exact", [{"instruction": "same", "response": "one"},
                                   {"instruction": "same", "response": "two"}], fields=["instruction"])
    assert res.kept["response"].to_list() == ["one"]


def test_where_filter_keeps_true_rejects_false_and_null():
    batch = frame([{"instruction": "a", "response": "long enough answer"}, {"instruction": "b", "response": "no"},
                   {"instruction": "c", "response": "x", "context": None}])
    res = make("filter.where", expr="length(response) > 5 OR context IS NOT NULL").apply(batch)
    assert res.kept["instruction"].to_list() == ["a"]
    assert res.rejected["reason"].to_list() == ["where_false", "where_false"]
    res = make("filter.where", expr="context = 'x'").apply(batch)   # NULL comparison -> rejected
    assert res.kept.height == 0


def test_where_filter_bad_expression_is_a_config_error():
    with pytest.raises(ConfigError, match="no_such_column"):
        make("filter.where", expr="no_such_column > 1").apply(frame([{"instruction": "a", "response": "b"}]))


def test_sample_is_deterministic_stratified_and_batch_independent(tmp_path):
    rows = [alpaca(i) for i in range(200)]
    write_jsonl(tmp_path / "a.jsonl", rows[:120])
    write_jsonl(tmp_path / "b.jsonl", rows[120:])
    inputs = [{"path": "a.jsonl"}, {"path": "b.jsonl"}]
    steps = [{"use": "select.sample", "with": {"n": 10, "by": "source"}}]
    big = run_recipe(tmp_path, inputs, steps, name="big").final()
    small = run_recipe(tmp_path, inputs, steps, name="small", batch_size=7).final()
    assert big.group_by("source").len().sort("source").rows() == [("a", 10), ("b", 10)]
    assert sorted(big["id"].to_list()) == sorted(small["id"].to_list())
    other = run_recipe(tmp_path, inputs, steps, name="other", seed=1).final()
    assert sorted(other["id"].to_list()) != sorted(big["id"].to_list())
    frac = run_recipe(tmp_path, inputs, [{"use": "select.sample", "with": {"fraction": 0.25}}], name="f").final()
    assert frac.height == 50


def test_mix_respects_ratios_without_upsampling(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [alpaca(i) for i in range(100)])
    write_jsonl(tmp_path / "b.jsonl", [alpaca(i) for i in range(100, 130)])
    write_jsonl(tmp_path / "c.jsonl", [alpaca(i) for i in range(130, 140)])
    inputs = [{"path": p} for p in ("a.jsonl", "b.jsonl", "c.jsonl")]
    res = run_recipe(tmp_path, inputs, [{"use": "select.mix", "with": {"ratios": {"a": 0.5, "b": 0.5}}}])
    counts = dict(res.final().group_by("source").len().rows())
    assert counts == {"a": 30, "b": 30}
    reasons = dict(res.rejected().group_by("reason").len().rows())
    assert reasons == {"over_ratio": 70, "not_in_mix": 10}
    res = run_recipe(tmp_path, inputs, [{"use": "select.mix", "with": {"ratios": {"a": 3, "b": 1}, "total": 40}}],
                     name="t2")
    assert dict(res.final().group_by("source").len().rows()) == {"a": 30, "b": 10}


def test_steps_command_documents_every_step(cli):
    res = cli("steps")
    assert res.exit_code == 0
    for name in ["normalize.text", "filter.length", "dedup.exact", "filter.where", "select.sample", "select.mix"]:
        assert name in res.output
    one = cli("steps", "filter.where")
    assert "expr" in one.output and "DuckDB" in one.output
    assert cli("steps", "nope").exit_code == 2


def test_normalize_in_parallel_gives_the_same_text(monkeypatch):
    import curate.steps.normalize.text as normalize
    texts = [f"caf\u00c3\u00a9 number {i} \u2019quoted\u2019 &amp; more" for i in range(300)]
    serial = make("normalize.text").apply(frame([{"instruction": t, "response": "r"} for t in texts])).kept
    monkeypatch.setattr(normalize, "PARALLEL_MIN", 10)
    parallel = make("normalize.text").apply(frame([{"instruction": t, "response": "r"} for t in texts])).kept
    assert parallel.equals(serial) and serial["instruction"][0] == "café number 0 'quoted' & more"


def test_word_counts_and_squeezing_agree_with_the_plain_regex():
    import random
    from curate.steps.common.text import SQUEEZE, word_counts
    rng = random.Random(1)
    pieces = ["a", "bc", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "é", ""]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(2000)] + [None]
    s = pl.Series(texts, dtype=pl.Utf8)
    assert word_counts(s).to_list() == [len(t.split()) if t else 0 for t in texts]
    assert s.str.replace_all(SQUEEZE, " ").to_list() == s.str.replace_all(r"\s+", " ").to_list()
