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
