"""A recipe may touch its inputs and its run folder, nothing else: hostile SQL in a recipe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import yaml

from conftest import alpaca, run_recipe, write_jsonl


def run_where(tmp_path, cli, expr: str):
    """`curate run` on a recipe whose one step is `filter.where` with `expr`, as a user runs it."""
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(5)])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "r", "inputs": [{"path": "in.jsonl"}],
                                      "steps": [{"use": "filter.where", "with": {"expr": expr}}]}))
    return cli("run", recipe, "-q")

ESCAPES = [
    "true)::BOOLEAN, false) AS keep FROM batch; COPY (SELECT * FROM read_text('/etc/passwd')) TO '{out}'; "
    "SELECT coalesce((true",
    "true) AS keep FROM batch; ATTACH '{out}' AS x; SELECT (true",
    "true) AS keep FROM batch; INSTALL httpfs; SELECT (true",
    "true) AS keep FROM batch UNION ALL SELECT (false",
    "true) AS keep FROM read_text('/etc/passwd') --",
    "true) AS keep FROM batch WHERE (false",
]


@pytest.mark.parametrize("expr", ESCAPES)
def test_filter_where_sql_cannot_leave_its_expression(tmp_path, cli, expr):
    out = tmp_path / "stolen.csv"
    result = run_where(tmp_path, cli, expr.format(out=out))
    assert result.exit_code == 2, result.output
    assert re.search(r"r\.yaml:\d+: steps\[0\]\.with\.expr", result.output), result.output
    assert "one SQL expression" in result.output or "not valid SQL" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and not Path("stolen.csv").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("expr,what", [
    ("(SELECT max(length(content)) FROM read_text('/etc/passwd')) > 0", "/etc/passwd"),
    ("(SELECT count(*) FROM read_csv('/etc/hostname')) > 0", "/etc/hostname"),
    ("(SELECT count(*) FROM glob('/root/*')) >= 0", "/root/*"),
])
def test_filter_where_sql_cannot_read_files(tmp_path, cli, expr, what):
    result = run_where(tmp_path, cli, expr)
    assert result.exit_code == 2 and "Permission Error" in result.output and what in result.output, result.output


def test_filter_where_still_evaluates_ordinary_expressions(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(20)])
    res = run_recipe(tmp_path, [{"path": "in.jsonl"}], [{"use": "filter.where", "with": {
        "expr": "instruction NOT LIKE '%7%' AND (SELECT count(*) FROM batch) > 0 AND length(response) > 10"}}])
    assert res.manifest["rows"]["final"] == 18


# -- `curate sql` reads, never writes ------------------------------------------------------------

@pytest.fixture
def finished(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(5)])
    return run_recipe(tmp_path, [{"path": "in.jsonl"}]).dir


def snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


WRITES = [
    "COPY (SELECT 1 AS x) TO '{run}/final.parquet' (FORMAT parquet)",
    "COPY final TO '{tmp}/leak.csv'",
    "EXPORT DATABASE '{tmp}/dump'",
    "SELECT 1; COPY (SELECT * FROM read_text('/etc/passwd')) TO '{tmp}/leak.csv'",
    "ATTACH '{tmp}/new.db' AS x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET file_search_path = '/'",
    "SET memory_limit = '1MB'",
    "SET enable_external_access = false",
    "RESET memory_limit",
    "CREATE TABLE t AS SELECT 1",
    "CALL pragma_version()",
    "PRAGMA enable_profiling",
    "EXPLAIN ANALYZE COPY final TO '{tmp}/leak.csv'",
    "CHECKPOINT",
]


@pytest.mark.parametrize("statement", WRITES)
def test_curate_sql_refuses_every_statement_that_does_not_read(tmp_path, cli, finished, statement):
    before = snapshot(tmp_path)
    result = cli("sql", finished, statement.format(run=finished, tmp=tmp_path))
    assert result.exit_code == 2, result.output
    assert "only reads; refused" in result.output and result.exception.__class__ is SystemExit
    assert snapshot(tmp_path) == before, "curate sql changed a file"


def test_curate_sql_shell_refuses_writes_too(tmp_path, cli, finished):
    from typer.testing import CliRunner
    from curate.cli import app
    before = snapshot(tmp_path)
    script = f"COPY final TO '{tmp_path}/leak.csv';\nSELECT count(*) AS n FROM final;\n.quit\n"
    result = CliRunner().invoke(app, ["sql", str(finished)], input=script)
    assert result.exit_code == 0 and "only reads; refused" in result.output and "5" in result.output
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("statement", [
    "SELECT count(*) AS n FROM final", "FROM final LIMIT 1", "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
    "DESCRIBE final", "SHOW final", "SUMMARIZE final", "EXPLAIN SELECT * FROM final", "PRAGMA show_tables",
    "PRAGMA table_info('final')", "SELECT current_setting('memory_limit') AS m",
])
def test_curate_sql_allows_what_reads(cli, finished, statement):
    result = cli("sql", finished, statement, "--format", "csv")
    assert result.exit_code == 0, result.output


def test_curate_sql_runs_each_statement_and_settings_stay_locked(cli, finished):
    result = cli("sql", finished, "SELECT count(*) AS n FROM final; SELECT 7 AS x", "--format", "csv")
    assert result.exit_code == 0 and result.output.split() == ["n", "5", "x", "7"], result.output
    from curate.io.catalog import connect
    import duckdb
    con = connect(finished)                    # even a caller that skips the statement check
    with pytest.raises(duckdb.Error, match="configuration has been locked"):
        con.execute("SET file_search_path = '/'")


# -- `curate export` stays in the folder it was given ---------------------------------------------

@pytest.mark.parametrize("split", ["../../victim", "*", "/tmp/abs", "..", "a/b", "train-x", ".hidden", ""])
def test_export_split_must_be_a_name(tmp_path, cli, finished, split):
    victim = tmp_path / "victim-00000-of-00001.parquet"
    victim.write_bytes(b"precious")
    assert cli("export", finished, "--to", tmp_path / "a" / "b" / "ds", "--split", "test").exit_code == 0
    before = snapshot(tmp_path)
    result = cli("export", finished, "--to", tmp_path / "a" / "b" / "ds", "--split", split)
    assert result.exit_code == 2 and "a split is a name" in result.output, result.output
    assert snapshot(tmp_path) == before


def test_export_keeps_other_splits_and_lists_them_in_the_card(tmp_path, cli, finished):
    import datasets
    other = run_recipe(tmp_path, [{"path": "in.jsonl", "limit": 3}], name="other").dir
    assert cli("export", finished, "--to", tmp_path / "ds").exit_code == 0
    assert cli("export", other, "--to", tmp_path / "ds", "--split", "test").exit_code == 0
    loaded = datasets.load_dataset(str(tmp_path / "ds"), cache_dir=str(tmp_path / "hf"))
    assert {name: len(split) for name, split in loaded.items()} == {"train": 5, "test": 3}


def test_export_into_a_folder_curate_did_not_make_needs_force(tmp_path, cli, finished):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md").write_text("# my own notes\n")
    result = cli("export", finished, "--to", mine)
    assert result.exit_code == 2 and "--force" in result.output and "README.md" in result.output
    assert (mine / "README.md").read_text() == "# my own notes\n" and not (mine / "data").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("x")
    assert cli("export", finished, "--to", tmp_path / "full").exit_code == 2
    assert cli("export", finished, "--to", mine, "--force").exit_code == 0
    assert "curate" in (mine / "README.md").read_text()
    again = cli("export", finished, "--to", mine, "--format", "alpaca")      # ours now: no --force needed
    shards = [p.name for p in (mine / "data").iterdir()]
    assert again.exit_code == 0 and len(shards) == 1 and shards[0].endswith("-00000-of-00001.jsonl")


def test_each_export_reloads_as_its_own_rows_with_a_warm_datasets_cache(tmp_path, cli, finished):
    import datasets
    other = run_recipe(tmp_path, [{"path": "in.jsonl", "limit": 3}], name="other").dir
    cache = str(tmp_path / "hf")                        # one HF cache for every load, as a user has
    for run, folder, rows in ((finished, "x1", 5), (other, "x2", 3), (finished, "x2", 5), (other, "x2", 3)):
        assert cli("export", run, "--to", tmp_path / folder / "mydata").exit_code == 0
        assert len(datasets.load_dataset(str(tmp_path / folder / "mydata"), split="train", cache_dir=cache)) == rows
    assert cli("export", other, "--to", tmp_path / "x2" / "mydata", "--format", "alpaca").exit_code == 0
    loaded = datasets.load_dataset(str(tmp_path / "x2" / "mydata"), split="train", cache_dir=cache)
    assert len(loaded) == 3 and "instruction" in loaded.column_names
    card = (tmp_path / "x2" / "mydata" / "README.md").read_text()
    assert f"Columns: {', '.join(f'`{c}`' for c in loaded.column_names)}." in card


def test_a_recipe_train_block_cannot_write_outside_its_run(tmp_path, cli):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(5)])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "r", "inputs": [{"path": "in.jsonl"}],
                                      "train": {"out": str(tmp_path / "elsewhere"), "max_tokens": 100}}))
    result = cli("run", recipe, "-q")
    assert result.exit_code == 2 and "train.out: a recipe trains on its own final dataset" in result.output
    assert re.search(r"r\.yaml:\d+", result.output) and not (tmp_path / "elsewhere").exists()
