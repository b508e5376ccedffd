"""`curate ablate`: each step switched off in turn, every variant trained at one budget and
evaluated, each effect with its interval; shared work reused; the report shows the result."""

from __future__ import annotations

import json

import polars as pl
import pytest

from conftest import make_tiny_llama, write_jsonl


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-ablate"), seed=3)


def _recipe(tmp_path, tiny, steps: str) -> str:
    rows = [{"instruction": f"Say {w} {i}.", "output": f"{w} {i}"} for i in range(8) for w in ["yes", "no"]]
    rows += [{"instruction": "Say hi.", "output": "N/A"}] * 3 + [{"instruction": "Say yes 1.", "output": "yes 1"}] * 2
    write_jsonl(tmp_path / "data.jsonl", rows)
    write_jsonl(tmp_path / "items.jsonl", [{"instruction": f"Say yes {i}.", "output": f"yes {i}"} for i in range(10)])
    (tmp_path / "loss.yaml").write_text("inputs: [{path: items.jsonl}]\nscorer: ref_loss\ngroup_by: null\n")
    (tmp_path / "r.yaml").write_text(f"name: ab\ninputs: [{{path: data.jsonl}}]\nsteps:\n{steps}")
    return str(tmp_path / "r.yaml")


STEPS = """  - use: filter.trivial
  - use: dedup.exact
  - use: score.ifd
    with: {model: MODEL}
  - use: select.top
    with: {column: score_ifd, n: 12}
  - use: compose.sequential
    with: {ratio: 0.5}
"""


def test_ablate_measures_each_step_at_one_budget_and_reuses_what_it_can(tiny, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    recipe = _recipe(tmp_path, tiny, STEPS.replace("MODEL", tiny))
    args = ["ablate", recipe, "--suite", tmp_path / "loss.yaml", "--seeds", "2", "--model", tiny, "--max-len", "64",
            "--prefixes", "--out", tmp_path / "ab"]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "ab"
    effects = next(iter(json.loads((out / "ablation.json").read_text()).values()))
    # the score is switched off with the step that reads it; the reader also alone
    assert list(effects)[:5] == ["01 filter.trivial", "02 dedup.exact", "03 score.ifd + 04 select.top",
                                 "04 select.top", "05 compose.sequential"]
    for name, r in effects.items():
        assert r["low"] <= r["diff"] <= r["high"] and r["detectable"] >= 0, name
        assert r["verdict"] in ("helps", "hurts", "inconclusive", "no change"), name
        if "seen" in r:                        # how many of the records trained on differed between the arms
            assert r["seen"] > 0 and 0 <= r["unshared"] <= 2 * r["seen"], name
        if r["verdict"] != "no change":        # a measured difference: the arms' adapters differ
            assert "the same adapters" not in r.get("note", ""), name
    # without compose, the arm loses the added records it would have seen; the rest are shared
    assert effects["05 compose.sequential"]["unshared"] > 0
    assert effects["adding 03 score.ifd after 01–02"]["verdict"] == "no change"     # a score nobody reads yet
    setup = json.loads((out / "ablation_setup.json").read_text())
    # compose is ablated by removing what it added: the full final minus its 6 records
    full, without = (next(v for v in setup["variants"] if v["name"] == name)
                     for name in ("full", "without-05-compose.sequential"))
    added = pl.read_parquet(f"{full['run_dir']}/final.parquet")["tag_sequential"].is_not_null().sum()
    assert added > 0 and without["records"] == full["records"] - added
    assert pl.read_parquet(without["data"])["tag_sequential"].is_null().all()
    # every adapter trained on the same number of tokens
    budgets = {json.loads(p.read_text())["tokens"] for p in out.glob("arms/*/seed-*/train/summary.json")}
    assert budgets == {setup["budget_tokens"]}
    reuse = setup["reuse"]
    assert reuse["stages_reused"] > 0 and reuse["variants_not_trained"] >= 2   # shared prefixes; same examples
    assert reuse["adapters_trained"] + reuse["adapters_shared"] == 2 * (len(setup["variants"]) -
                                                                        reuse["variants_not_trained"])
    md = (out / "ablation.md").read_text()
    assert "records per seed" in md and "not in both" in md
    assert "95% interval" in md and "detectable (80% power)" in md and (out / "ablation.png").stat().st_size > 5000
    table = result.output[result.output.rindex("loss.yaml (loss"):].splitlines()[:-1]    # the printed summary
    assert len(table) == len(effects) + 1 and all(len(line) <= 80 for line in table)
    again = cli(*args)                                    # nothing changed: nothing trained or evaluated again
    assert again.exit_code == 0, again.output
    reuse = json.loads((out / "ablation_setup.json").read_text())["reuse"]
    assert reuse["adapters_trained"] == 0 and reuse["evals_run"] == 0
    compared = cli("compare", "--baseline", without["data"], "--treatment", full["run_dir"], "--suite",
                   tmp_path / "loss.yaml", "--model", tiny, "--seeds", "1", "--max-len", "64", "--out", tmp_path / "cmp")
    assert compared.exit_code == 0, compared.output
    page = cli("report", full["run_dir"], "--include", out, "--include", tmp_path / "cmp", "--out",
               tmp_path / "report.html")
    assert page.exit_code == 0, page.output
    html = (tmp_path / "report.html").read_text()
    assert "Ablation: which step helps" in html and "03 score.ifd + 04 select.top" in html
    assert "Comparison</h2>" in html and "loss.yaml (loss, lower is better)" in html.split("Comparison</h2>")[1]
    assert "data:image/png;base64" in html.split("Ablation: which step helps")[1]
    from test_report import CHROMIUM, _browser
    if CHROMIUM:                                          # the section renders in a real browser
        dom, console = _browser(tmp_path / "report.html", tmp_path)
        assert 'id="ablation-0"' in dom and "Uncaught" not in console
    wrong = cli("report", full["run_dir"], "--include", tmp_path)
    assert wrong.exit_code != 0 and "not a `curate ablate` or `curate compare` folder" in wrong.output


def test_a_recipe_with_one_step_has_nothing_to_switch_off(tiny, tmp_path, cli):
    recipe = _recipe(tmp_path, tiny, "  - use: dedup.exact\n")
    result = cli("ablate", recipe, "--suite", tmp_path / "loss.yaml", "--model", tiny, "--out", tmp_path / "ab")
    assert result.exit_code == 2 and "nothing to switch off" in result.output and "Traceback" not in result.output
    none = cli("ablate", recipe, "--model", tiny, "--out", tmp_path / "ab")
    assert none.exit_code == 2 and "--suite" in none.output


def test_a_variant_that_cannot_run_is_reported_not_fatal(tiny, tmp_path, cli, monkeypatch):
    """filter.where picks `score_ifd` by a pattern (COLUMNS), which the plan cannot see as a
    name: the recipe without score.ifd fails to run, and the table says so instead of stopping."""
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    steps = (f"  - use: dedup.exact\n  - use: score.ifd\n    with: {{model: {tiny}}}\n"
             "  - use: filter.where\n    with: {expr: \"COLUMNS('^score_i.*') > 0\"}\n")
    recipe = _recipe(tmp_path, tiny, steps)
    result = cli("ablate", recipe, "--suite", tmp_path / "loss.yaml", "--seeds", "1", "--model", tiny,
                 "--max-len", "64", "--out", tmp_path / "ab")
    assert result.exit_code == 0, result.output
    effects = next(iter(json.loads((tmp_path / "ab" / "ablation.json").read_text()).values()))
    assert list(effects) == ["01 dedup.exact", "02 score.ifd", "03 filter.where"]
    assert effects["02 score.ifd"]["verdict"] == "not measured"
    assert "does not run without it" in effects["02 score.ifd"]["note"]
    assert effects["01 dedup.exact"]["verdict"] in ("helps", "hurts", "inconclusive")
    assert "not measured: the recipe does not run without it" in (tmp_path / "ab" / "ablation.md").read_text()
