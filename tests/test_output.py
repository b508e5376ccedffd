"""Output a person reads at 80 columns: names and headers whole, long values shortened, one field
per line when a row is too wide (tested with COLUMNS=80, as a terminal of that width sets it)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from curate.cli import app
from conftest import alpaca, run_recipe, write_jsonl


def narrow(*args) -> str:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    return result.output


@pytest.fixture
def finished(tmp_path):
    rows = [alpaca(i, input="Some context that goes on and on " * 8) for i in range(6)] + [alpaca(1), alpaca(1)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    write_jsonl(tmp_path / "eval.jsonl", [alpaca(5)])
    return run_recipe(tmp_path, [{"path": "in.jsonl"}], [
        {"use": "filter.decontaminate", "with": {"evals": ["eval.jsonl"], "n": 8}},
        {"use": "dedup.exact"}, {"use": "filter.length", "with": {"field": "response", "min": 2}}]).dir


def test_a_wide_row_prints_one_field_per_line(finished):
    out = narrow("sql", finished, "SELECT * FROM final LIMIT 3")
    assert out.count("── row") == 3 and len(out.splitlines()) < 40
    for column in ("instruction", "context", "response", "parent_ids", "origin"):
        assert f"{column} = " in out
    assert "…" in out                                   # the long context is shortened, not wrapped


def test_a_narrow_result_stays_a_table_with_whole_headers(finished):
    out = narrow("sql", finished, "SELECT origin, length(response) AS response_length, source FROM final LIMIT 2")
    assert "response_length" in out and "in.jsonl:1" in out and "── row" not in out


def test_the_funnel_keeps_step_and_reason_names_whole(finished):
    out = narrow("show", finished)
    for name in ("filter.decontaminate", "exact_duplicate (1)", "filter.length"):
        assert name in out


def test_step_help_keeps_defaults_and_bracketed_text_whole():
    out = narrow("steps", "filter.language")
    assert "fields: list[str] = ['instruction', 'response']" in out and "e.g. [en]" in out
    assert "min_score: float = 0.65" in out
    assert "filter.decontaminate" in narrow("steps")


def test_long_commands_report_each_stage_when_piped_and_keep_library_noise_out(tmp_path):
    """`curate train` and `curate eval` piped (no terminal): a line per stage, and none of the
    transformers/peft warnings or "Loading weights" bars, which go to the log file."""
    import subprocess
    import sys
    from pathlib import Path
    from conftest import make_tiny_llama
    curate = str(Path(sys.executable).parent / "curate")
    model = make_tiny_llama(tmp_path / "tiny")
    write_jsonl(tmp_path / "qa.jsonl", [{"instruction": f"Say {w}.", "output": w} for w in ("yes", "no", "maybe")])
    (tmp_path / "suite.yaml").write_text("inputs: [{path: qa.jsonl}]\nscorer: exact_match\nmax_new_tokens: 4\n")
    env = {**__import__("os").environ, "CURATE_CACHE": str(tmp_path / "cache")}
    train = subprocess.run([curate, "train", "qa.jsonl", "--model", model, "--out", "t", "--max-tokens", "200"],
                           cwd=tmp_path, capture_output=True, text=True, env=env)
    evaluation = subprocess.run([curate, "eval", "--model", model, "--adapter", "t/adapter", "--suite", "suite.yaml",
                                 "--out", "e"], cwd=tmp_path, capture_output=True, text=True, env=env)
    for result, stages in ((train, ["train: 3 examples", "train: 1 steps", "train: saving the adapter"]),
                           (evaluation, ["eval suite: loading", "eval suite: generating 3 answers"])):
        assert result.returncode == 0, result.stderr
        for stage in stages:
            assert stage in result.stderr, result.stderr
        for noise in ("Loading weights", "Warning", "warn(", "[transformers]", "it/s]"):
            assert noise not in result.stderr, result.stderr
    assert (tmp_path / "cache" / "logs" / "curate.log").is_file()
