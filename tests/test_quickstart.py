"""The README's main job: the quickstart recipe on the project's own sample data."""

from __future__ import annotations

import subprocess
import sys

from curate.recipe import Recipe
from curate.runner import Runner
from conftest import ROOT


def test_quickstart_keeps_and_rejects_visibly(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # as in the README: run from the project folder
    recipe = Recipe.load(ROOT / "recipes" / "quickstart.yaml")
    run_dir = Runner(recipe, tmp_path / "runs", progress=False).run()
    import orjson
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    assert manifest["rows"]["read"] > 200 and manifest["rows"]["final"] > 150
    reasons = {r for s in manifest["stages"] for r in s["reasons"]}
    assert {"too_short", "exact_duplicate", "refusal", "filler"} <= reasons
    formats = {f for i in manifest["inputs"] for f in i["formats"].values()}
    assert formats == {"alpaca", "sharegpt"}
    assert manifest["stages"][1]["stats"]["changed"] > 0  # mojibake and stray spaces were fixed


def test_sample_data_is_what_the_generator_writes(tmp_path):
    before = {p.name: p.read_bytes() for p in (ROOT / "data").glob("*.jsonl")}
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_data.py")], check=True,
                   capture_output=True)
    after = {p.name: p.read_bytes() for p in (ROOT / "data").glob("*.jsonl")}
    assert before == after


def test_cli_import_stays_light():
    code = ("import sys, curate.cli; heavy = [m for m in ('torch', 'transformers', 'polars', 'duckdb', "
            "'datasets', 'pyarrow') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
