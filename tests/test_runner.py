"""Runs: stage files, ledger, manifest, accounting, reuse, resume after SIGKILL, no half-written output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from curate.errors import ConfigError, InvariantError
from curate.recipe import Recipe
from curate.runner import Runner, check_accounting
from conftest import ROOT, alpaca, run_recipe, write_jsonl

STEPS = [{"use": "normalize.text"}, {"use": "filter.length", "with": {"min": 6}},
         {"use": "dedup.exact"}, {"use": "filter.where", "with": {"expr": "instruction NOT LIKE '%7%'"}}]


def rows_of(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def data(tmp_path, n=300):
    rows = [alpaca(i) for i in range(n)] + [alpaca(i) for i in range(0, n, 10)]
    rows += [{"instruction": "tiny", "input": "", "output": "ok"}] * 3
    return write_jsonl(tmp_path / "in.jsonl", rows)


def test_run_layout_ledger_and_manifest(tmp_path):
    data(tmp_path)
    res = run_recipe(tmp_path, [{"path": "in.jsonl"}], STEPS)
    names = sorted(p.name for p in (res.dir / "stages").iterdir())
    assert "00-read.parquet" in names and "03-dedup.exact.rejected.parquet" in names and "04-filter.where.json" in names
    for f in ("final.parquet", "rejected.parquet", "manifest.json", "catalog.duckdb"):
        assert (res.dir / f).is_file()
    m = res.manifest
    assert [s["step"] for s in m["stages"]] == ["read", "normalize.text", "filter.length", "dedup.exact",
                                                 "filter.where"]
    assert m["rows"]["read"] == 333 and m["rows"]["read"] == m["rows"]["final"] + m["rows"]["rejected"]
    assert m["stages"][2]["reasons"] == {"too_short": 3}  # the three one-word answers
    assert m["stages"][3]["reasons"] == {"exact_duplicate": 30}
    assert m["versions"]["curate"] and m["seed"] == 0 and m["recipe"]["steps"][1]["with"]["min"] == 6
    ledger = res.rejected()
    assert ledger.columns == ["id", "stage", "step", "reason", "detail", "origin"]
    assert set(ledger["reason"]) == {"too_short", "exact_duplicate", "where_false"}
    assert ledger.filter(ledger["reason"] == "exact_duplicate")["origin"][0].startswith("in.jsonl:")


def test_every_stage_accounts_for_every_row(tmp_path):
    data(tmp_path)
    res = run_recipe(tmp_path, [{"path": "in.jsonl"}], STEPS)
    prev = None
    for st in res.manifest["stages"]:
        stem = f"{st['index']:02d}-{st['step']}"
        n_out = rows_of(res.dir / "stages" / f"{stem}.parquet")
        n_rej = rows_of(res.dir / "stages" / f"{stem}.rejected.parquet")
        assert st["in"] == (prev if prev is not None else st["in"]) == st["kept"] + st["rejected"]
        assert n_out == st["kept"] + st["added"] and n_rej == st["rejected"]
        prev = n_out


def test_accounting_check_catches_a_lost_row(tmp_path):
    data(tmp_path)
    recipe = Recipe(name="t", inputs=[{"path": "in.jsonl"}], steps=STEPS)
    runner = Runner(recipe, tmp_path / "runs", progress=False)
    runner.run()
    infos = [orjson.loads(p.read_bytes()) for p in sorted((runner.run_dir / "stages").glob("*.json"))]
    infos[2]["kept"] -= 1  # pretend a step lost a row without a ledger entry
    with pytest.raises(InvariantError, match="02-filter.length"):
        check_accounting(runner.run_dir, runner.stages, infos)


def test_small_batches_give_the_same_records(tmp_path):
    data(tmp_path)
    big = run_recipe(tmp_path, [{"path": "in.jsonl"}], STEPS, name="big").final()
    small = run_recipe(tmp_path, [{"path": "in.jsonl"}], STEPS, name="small", batch_size=17).final()
    assert big.equals(small)


def test_rerun_reuses_stages_and_changed_step_recomputes_from_there(tmp_path):
    data(tmp_path)
    first = run_recipe(tmp_path, [{"path": "in.jsonl"}], STEPS)
    again = run_recipe(tmp_path, [{"path": "in.jsonl"}], STEPS)
    assert again.dir == first.dir and all(s["reused"] for s in again.manifest["stages"])
    changed = STEPS[:3] + [{"use": "filter.where", "with": {"expr": "instruction NOT LIKE '%8%'"}}]
    other = run_recipe(tmp_path, [{"path": "in.jsonl"}], changed)
    assert other.dir != first.dir
    assert [s["reused"] for s in other.manifest["stages"]] == [True, True, True, True, False]
    fresh = Runner(Recipe(name="t", inputs=[{"path": "in.jsonl"}], steps=changed), tmp_path / "runs",
                   fresh=True, progress=False)
    fresh.run()
    manifest = orjson.loads((fresh.run_dir / "manifest.json").read_bytes())
    assert not any(s["reused"] for s in manifest["stages"])


def test_changed_input_file_invalidates_the_read_stage(tmp_path):
    path = data(tmp_path)
    first = run_recipe(tmp_path, [{"path": "in.jsonl"}], STEPS)
    with open(path, "a") as fh:
        fh.write(orjson.dumps(alpaca(99999)).decode() + "\n")
    second = run_recipe(tmp_path, [{"path": "in.jsonl"}], STEPS)
    assert second.dir != first.dir and not second.manifest["stages"][0]["reused"]
    assert second.manifest["rows"]["read"] == first.manifest["rows"]["read"] + 1


def test_failed_run_leaves_no_half_written_stage_or_final(tmp_path):
    data(tmp_path)
    steps = STEPS[:3] + [{"use": "filter.where", "with": {"expr": "missing_column > 1"}}]
    recipe = Recipe(name="t", inputs=[{"path": "in.jsonl"}], steps=steps)
    runner = Runner(recipe, tmp_path / "runs", progress=False)
    with pytest.raises(ConfigError, match="missing_column"):
        runner.run()
    files = sorted(p.name for p in runner.run_dir.rglob("*"))
    assert not [f for f in files if ".tmp-" in f]
    assert "final.parquet" not in files and "manifest.json" not in files
    assert "04-filter.where.json" not in files and "04-filter.where.parquet" not in files
    assert "03-dedup.exact.json" in files  # finished stages stay for the next try


def _big_input(tmp_path: Path, n: int = 150_000) -> Path:
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as fh:
        for i in range(n):
            fh.write(orjson.dumps({"instruction": f"Item {i % 120_000}: describe   the number {i % 120_000}.",
                                   "input": "", "output": f"It is {i % 120_000}, written as {i % 120_000:,}."})
                     + b"\n")
    return path


@pytest.mark.slow
def test_resume_after_sigkill_gives_byte_identical_final(tmp_path):
    _big_input(tmp_path)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: big\nbatch_size: 5000\ninputs:\n  - path: big.jsonl\nsteps:\n"
                      "  - use: normalize.text\n    with: {collapse_spaces: true}\n"
                      "  - use: filter.length\n    with: {unit: chars, min: 5}\n"
                      "  - use: dedup.exact\n  - use: filter.where\n    with: {expr: \"response NOT LIKE '%7%'\"}\n")
    cmd = [sys.executable, "-m", "curate.cli", "run", str(recipe), "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd + ["--out", "runs"], cwd=tmp_path, env=env)
    deadline = time.time() + 120
    while not list((tmp_path / "runs").glob("*/stages/00-read.json")):
        assert proc.poll() is None and time.time() < deadline, "run ended before the first stage finished"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = next((tmp_path / "runs").glob("big-*"))
    assert not (run_dir / "final.parquet").exists(), "the kill came after the run finished"
    done_before = {p.name for p in (run_dir / "stages").glob("*.json")}
    resumed = subprocess.run(cmd + ["--out", "runs"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == str(Path("runs") / run_dir.name)
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    reused = {f"{s['index']:02d}-{s['step']}.json" for s in manifest["stages"] if s["reused"]}
    assert reused == done_before and "00-read.json" in reused
    assert not list(run_dir.rglob("*.tmp-*"))
    clean = subprocess.run(cmd + ["--out", "clean", "--fresh"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    clean_dir = tmp_path / clean.stdout.strip().splitlines()[-1]
    assert (run_dir / "final.parquet").read_bytes() == (clean_dir / "final.parquet").read_bytes()
    assert (run_dir / "rejected.parquet").read_bytes() == (clean_dir / "rejected.parquet").read_bytes()


def test_a_rerun_clears_the_temporary_files_a_killed_run_left(tmp_path):
    """Whoever holds the run folder's lock is its only writer (a live second run waits for it:
    tests/test_crashes.py), so every temporary file found under the lock is a killed run's."""
    from conftest import run_recipe, write_jsonl
    data = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "Hi there", "output": "Hello to you"}])
    first = run_recipe(tmp_path, [{"path": str(data)}])
    left = [first.dir / "final.parquet.tmp-999999999", first.dir / "stages" / "00-read.parquet.tmp-12345"]
    for path in left:
        path.write_bytes(b"x")
    run_recipe(tmp_path, [{"path": str(data)}])
    assert not any(p.exists() for p in left)


def test_editing_an_eval_file_in_place_recomputes_the_decontamination_stage(tmp_path):
    """The stage fingerprint holds the contents of every file a step config names, not its path."""
    question = "At sea level what is the boiling point of water in degrees Celsius today"
    write_jsonl(tmp_path / "train.jsonl", [{"instruction": question, "output": "100"},
                                           {"instruction": "Name a prime number bigger than ten please", "output": "11"}])
    evals = write_jsonl(tmp_path / "evals.jsonl", [{"instruction": "What colour is the sky on a clear day at noon", "output": "blue"}])
    hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(evals, ns=(hour_ago, hour_ago))                                # old enough for the digest cache
    steps = [{"use": "filter.decontaminate", "with": {"evals": ["evals.jsonl"], "fields": ["instruction"], "n": 8}}]
    first = run_recipe(tmp_path, [{"path": "train.jsonl"}], steps)
    assert first.manifest["rows"]["final"] == 2
    write_jsonl(evals, [{"instruction": question, "output": "100"}])      # same path, new contents
    os.utime(evals, ns=(hour_ago, hour_ago))                                # even with the old mtime
    second = run_recipe(tmp_path, [{"path": "train.jsonl"}], steps)
    assert second.dir != first.dir
    assert [s["reused"] for s in second.manifest["stages"]] == [True, False]
    assert second.manifest["rows"]["final"] == 1
    assert second.rejected()["reason"].to_list() == ["contaminated"]


def test_a_missing_step_file_is_named_by_its_recipe_key_before_anything_runs(tmp_path):
    data(tmp_path)
    with pytest.raises(ConfigError, match=r"steps\[1\]\.with\.evals: file does not exist: nope\.jsonl"):
        Runner(Recipe(name="t", inputs=[{"path": "in.jsonl"}],
                      steps=[{"use": "dedup.exact"}, {"use": "filter.decontaminate", "with": {"evals": ["nope.jsonl"]}}]),
               tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists()


def test_piped_progress_prints_plain_lines_not_redraws(monkeypatch, capsys):
    """A log or CI sees that long work moves: a line per task now and then, and one at the end."""
    import curate.progress as progress
    monkeypatch.setattr(progress, "PIPED_EVERY_S", 0.0)
    with progress.Progress() as bar:
        task = bar.task("scoring [x]", total=4)
        bar.advance(task, 2)
        bar.advance(task, 2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("scoring [x]: 2/4 (50%)")
    assert lines[-1].startswith("scoring [x]: 4/4 (100%)") and lines[-1].endswith("done")
    assert len(lines) == 3
    monkeypatch.setattr(progress, "PIPED_EVERY_S", 3600.0)
    with progress.Progress() as bar:
        task = bar.task("quiet", total=10)
        bar.advance(task, 3)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("quiet: 3/10 (30%)") and not lines[0].endswith("done")
