"""SQL over every view (read-only), the funnel, and Hub-layout export loaded back by datasets."""

from __future__ import annotations

import json
import re
import shutil

import datasets
import polars as pl
import pytest

from conftest import alpaca, run_recipe, write_jsonl

STEPS = [{"use": "dedup.exact"}, {"use": "filter.where", "with": {"expr": "instruction NOT LIKE '%3%'"}}]


@pytest.fixture
def finished(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(40)] + [alpaca(1), alpaca(2)])
    return run_recipe(tmp_path, [{"path": "in.jsonl", "source": "demo"}], STEPS)


def test_sql_over_each_view(finished, cli):
    expected = {"stage_00_read": 42, "stage_01_dedup_exact": 40, "stage_02_filter_where": 27, "final": 27,
                "rejected": 15, "lineage": 0}
    for view, n in expected.items():
        res = cli("sql", finished.dir, f"SELECT count(*) AS n FROM {view}", "--format", "csv")
        assert res.exit_code == 0, res.output
        assert res.output.strip().splitlines() == ["n", str(n)], view
    res = cli("sql", finished.dir, "SELECT step, reason, count(*) AS n FROM rejected GROUP BY ALL ORDER BY n",
              "--format", "json")
    assert [json.loads(line) for line in res.output.strip().splitlines()] == [
        {"step": "dedup.exact", "reason": "exact_duplicate", "n": 2},
        {"step": "filter.where", "reason": "where_false", "n": 13}]


def test_sql_is_read_only_and_survives_moving_the_run(finished, cli, tmp_path):
    res = cli("sql", finished.dir, "CREATE TABLE x AS SELECT 1")
    assert res.exit_code == 2 and "read-only" in res.output.lower()
    moved = tmp_path / "moved"
    shutil.copytree(finished.dir, moved)
    shutil.rmtree(finished.dir)
    res = cli("sql", moved, "SELECT count(*) AS n FROM final", "--format", "csv")
    assert res.output.strip().splitlines() == ["n", "27"]


def test_stock_duckdb_cli_opens_the_catalog_from_anywhere(finished, tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    cli_path = Path(sys.executable).parent / "duckdb"
    if not cli_path.exists():
        pytest.skip("the DuckDB CLI (pip package duckdb-cli, in the test extras) is not installed")
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(finished.dir, moved)
    query = "SELECT (SELECT count(*) FROM final) AS f, (SELECT count(*) FROM stage_01_dedup_exact) AS s"
    inside = subprocess.run([str(cli_path), "-readonly", "-csv", "catalog.duckdb", "-c", query], cwd=moved,
                            capture_output=True, text=True)
    assert inside.returncode == 0 and inside.stdout.split() == ["f,s", "27,40"], inside.stderr
    anywhere = subprocess.run([str(cli_path), "-readonly", "-csv", "-cmd", f"SET file_search_path='{moved}'",
                               str(moved / "catalog.duckdb"), "-c", query], cwd=tmp_path, capture_output=True, text=True)
    assert anywhere.returncode == 0 and anywhere.stdout.split() == ["f,s", "27,40"], anywhere.stderr


def test_sql_error_lists_views(finished, cli):
    res = cli("sql", finished.dir, "SELECT * FROM nope")
    assert res.exit_code == 2 and "stage_01_dedup_exact" in res.output


def test_sql_table_output_and_python_api(finished, cli):
    res = cli("sql", finished.dir, "SELECT instruction FROM final ORDER BY instruction LIMIT 2")
    assert res.exit_code == 0 and "Question number 0" in res.output
    assert finished.sql("SELECT count(*) FROM final").item() == 27


def test_show_prints_the_funnel(finished, cli):
    res = cli("show", finished.dir)
    assert res.exit_code == 0
    for text in ["dedup.exact", "filter.where", "exact_duplicate (2)", "where_false (13)", "42 read"]:
        assert text in res.output
    rows = [json.loads(line) for line in cli("show", finished.dir, "--format", "json").output.splitlines()]
    assert [(r["step"], r["in"], r["kept"], r["rejected"]) for r in rows] == [
        ("read", 42, 42, 0), ("dedup.exact", 42, 40, 2), ("filter.where", 40, 27, 13)]


def test_export_hub_layout_loads_back_identically(finished, cli, tmp_path):
    res = cli("export", finished.dir, "--to", tmp_path / "ds", "--license", "apache-2.0")
    assert res.exit_code == 0, res.output
    shards = sorted(p.name for p in (tmp_path / "ds" / "data").iterdir())
    assert len(shards) == 1 and re.fullmatch(r"train-[0-9a-f]{8}-00000-of-00001\.parquet", shards[0])
    card = (tmp_path / "ds" / "README.md").read_text()
    header = card.split("---")[1]
    for text in ["license: apache-2.0", "task_categories", "n<1K", "configs", f"data/{shards[0][:14]}-*"]:
        assert text in header
    for text in ["filter.where", "where_false (13)", "in.jsonl", "Versions:", "name: t"]:
        assert text in card
    loaded = datasets.load_dataset(str(tmp_path / "ds"), split="train")
    assert loaded.to_polars().equals(finished.final())


def test_the_dataset_card_shows_the_funnel_and_lengths_as_images(finished, cli, tmp_path):
    """The card links its plots by relative path; they are real PNGs, drawn from the run, and the
    dataset still loads with only its shards (the images are not read as data)."""
    import numpy as np
    from PIL import Image
    assert cli("export", finished.dir, "--to", tmp_path / "ds").exit_code == 0
    card = (tmp_path / "ds" / "README.md").read_text()
    linked = re.findall(r"!\[[^\]]+\]\((images/[a-z]+\.png)\)", card)
    assert linked == ["images/funnel.png", "images/lengths.png"]            # no score columns: no score plot
    for path in linked:
        pixels = np.asarray(Image.open(tmp_path / "ds" / path).convert("L"))
        assert pixels.shape[0] > 100 and pixels.std() > 10
    assert datasets.load_dataset(str(tmp_path / "ds"), split="train").num_rows == finished.final().height


def test_export_shards_and_jsonl_formats(finished, tmp_path):
    from curate.io.export import export
    export(finished.dir, tmp_path / "sharded", shard_mb=0.001)
    shards = sorted(p.name for p in (tmp_path / "sharded" / "data").iterdir())
    assert len(shards) > 1 and shards[0].endswith(f"-of-{len(shards):05d}.parquet")
    loaded = datasets.load_dataset(str(tmp_path / "sharded"), split="train").to_polars()
    assert loaded.equals(finished.final())
    for fmt, key in [("alpaca", "instruction"), ("messages", "messages"), ("sharegpt", "conversations")]:
        export(finished.dir, tmp_path / fmt, fmt=fmt)
        (shard,) = (tmp_path / fmt / "data").glob("train-*-00000-of-00001.jsonl")
        lines = shard.read_text().splitlines()
        assert len(lines) == 27 and key in json.loads(lines[0])
        assert datasets.load_dataset(str(tmp_path / fmt), split="train").num_rows == 27


def test_export_to_hub_without_token_is_a_clear_error(finished, cli, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-hf-home"))
    res = cli("export", finished.dir, "--to", tmp_path / "ds", "--hub", "me/my-data")
    assert res.exit_code == 2 and "HF_TOKEN" in res.output
    assert (tmp_path / "ds" / "README.md").is_file()


def test_exported_parquet_reads_back_as_curate_records(finished, tmp_path):
    from curate.io.export import export
    export(finished.dir, tmp_path / "ds")
    again = run_recipe(tmp_path, [{"path": str(tmp_path / "ds" / "data" / "*.parquet")}], name="again")
    cols = ["id", "instruction", "context", "response", "system", "history", "task", "source"]
    assert again.final().select(cols).equals(finished.final().select(cols))
    assert again.manifest["inputs"][0]["formats"] and set(again.manifest["inputs"][0]["formats"].values()) == {"curate"}


def test_run_result_python_api(finished):
    assert isinstance(finished.final(), pl.DataFrame) and finished.rejected().height == 15


def test_interactive_sql_shell(finished):
    import subprocess
    import sys
    from conftest import ROOT
    script = ".tables\nSELECT count(*) AS n\n  FROM final;\nSELECT nope;\n.quit\n"
    out = subprocess.run([sys.executable, "-m", "curate.cli", "sql", str(finished.dir)], input=script,
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "stage_01_dedup_exact" in out.stdout and "27" in out.stdout and "error:" in out.stdout


def test_export_of_an_empty_dataset_and_uneven_shards(tmp_path):
    from curate.io.export import export
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(9)])
    nothing = run_recipe(tmp_path, [{"path": "in.jsonl"}], [{"use": "filter.where", "with": {"expr": "false"}}],
                         name="nothing")
    from curate.errors import CurateError
    with pytest.raises(CurateError, match="no records, so there is nothing to export"):
        export(nothing.dir, tmp_path / "empty")
    nine = run_recipe(tmp_path, [{"path": "in.jsonl"}], name="nine")
    size = sum(p.stat().st_size for p in [nine.dir / "final.parquet"])
    export(nine.dir, tmp_path / "nine", shard_mb=size / 2**20 / 3.5)  # asks for 4 shards of 9 rows
    shards = sorted(p.name for p in (tmp_path / "nine" / "data").iterdir())
    n = len(shards)
    assert shards == [f"{shards[0][:14]}-{k:05d}-of-{n:05d}.parquet" for k in range(n)]
    assert datasets.load_dataset(str(tmp_path / "nine"), split="train").to_polars().equals(nine.final())
