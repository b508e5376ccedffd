"""Every dataset under ../shared/data loads through `curate run`, auto-detected or with the override
docs/FORMATS.md shows. Skipped when ../shared/data is absent."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from conftest import SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")

# (input spec, expected records, expected formats) — counts as listed in ../shared/data/SOURCES.md
CASES = {
    "self_instruct": ({"path": "self_instruct/*.jsonl"}, 427, {"self_instruct"}),
    "p3_t0_templates": ({"path": "p3_t0_templates/*.jsonl"}, 41_404, {"prompt_completion"}),
    "alpaca_en_demo": ({"path": "llamafactory_demo/alpaca_en_demo.json"}, 999, {"alpaca"}),
    "identity": ({"path": "llamafactory_demo/identity.json"}, 91, {"alpaca"}),
    "dpo_en_demo": ({"path": "llamafactory_demo/dpo_en_demo.json"}, 300, {"sharegpt"}),
    "lima": ({"path": "lima/lima.json"}, 1_029, {"lima"}),
    "chain_of_instructions": ({"path": "chain_of_instructions/*/*.json", "keep": ["eng_output"]}, 8_775, {"alpaca"}),
    "bbh": ({"path": "bbh_instruction_format/test_*", "task": "{stem}"}, 6_511, {"alpaca"}),
    "seqeval": ({"path": "seqins/seqEval.json"}, 805, {"prompts"}),
    "seqins_iterations": ({"path": "seqins/intermediate_iterations/*.json",
                           "fields": {"instruction": "seq_instruction", "response": "full_response"}}, 2_415, {"custom"}),
    "conflictqa": ({"path": "conflictqa/*.json", "fields": {"instruction": "question", "context": "counter_memory",
                                                            "response": "counter_answer"}}, 3_299, {"custom"}),
    "gsm8k": ({"path": "gsm8k/*.jsonl"}, 8_792, {"qa"}),
    "xquad": ({"path": "xquad/*.json"}, 14_280, {"squad"}),
    "instruction_induction": ({"path": "instruction_induction/raw/*/*.json"}, 69_818, {"instruction_induction"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shared_dataset_loads_through_curate_run(name, cli, tmp_path):
    spec, expected, formats = CASES[name]
    spec = {**spec, "path": str(SHARED / spec["path"])}
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": name, "inputs": [spec]}))
    res = cli("run", recipe, "-q")
    assert res.exit_code == 0, res.output
    run_dir = Path(res.output.strip().splitlines()[-1])
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    assert manifest["rows"]["final"] == expected
    assert {f for i in manifest["inputs"] for f in i["formats"].values()} == formats


def test_every_shared_data_file_is_covered():
    import glob
    covered = {Path(p).resolve() for spec, _, _ in CASES.values() for p in glob.glob(str(SHARED / spec["path"]))}
    data_files = {p.resolve() for p in SHARED.rglob("*") if p.is_file()
                  and p.name not in ("SOURCES.md", "LICENSE") and p.suffix != ".txt"
                  and "annotations" not in p.parts}  # gold instructions, read by the instruction_induction reader
    assert data_files - covered == set()


def test_instruction_induction_uses_gold_annotations(cli, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "ii", "inputs": [
        {"path": str(SHARED / "instruction_induction/raw/execute/antonyms.json")}]}))
    run_dir = Path(cli("run", recipe, "-q").output.strip().splitlines()[-1])
    import polars as pl
    frame = pl.read_parquet(run_dir / "final.parquet")
    gold = orjson.loads((SHARED / "instruction_induction/annotations/antonyms.json").read_bytes())["annotations"][0]
    assert frame.height == 100 and set(frame["instruction"]) == {gold} and set(frame["task"]) == {"antonyms"}


def test_clean_recipe_runs_on_a_shared_dataset(cli):
    """recipes/clean.yaml on real data (LIMA + the Alpaca demo), decontaminated against GSM8K test:
    the run accounts for every record and the rejections are spread over several steps."""
    import json
    from conftest import ROOT
    inputs = json.dumps([{"path": str(SHARED / "lima/lima.json")},
                         {"path": str(SHARED / "llamafactory_demo/alpaca_en_demo.json")}])
    result = cli("run", ROOT / "recipes" / "clean.yaml", "-q", "--set", f"inputs={inputs}",
                 "--set", f"steps.13.with.evals=[{SHARED / 'gsm8k/test.jsonl'}]")
    assert result.exit_code == 0, result.output
    run_dir = Path(result.output.strip().splitlines()[-1])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stages = manifest["stages"]
    assert stages[0]["kept"] == 1_029 + 999
    assert stages[-1]["kept"] > 1_500
    assert sum(1 for s in stages[1:] if s["rejected"]) >= 5


@pytest.mark.parametrize("suite", ["gsm8k", "ii-execute:antonyms,sum", "bbh:boolean_expressions", "xquad:de",
                                   "coi", "conflictqa"])
def test_builtin_eval_suites_read_their_items_and_references(suite):
    """Each built-in suite reads its ../shared/data files and finds a non-empty reference per item."""
    from curate.evals.run import suite_records
    from curate.evals.suites import load_suite, memory, references
    spec = load_suite(suite)
    items = suite_records(spec, limit=3)
    assert items
    for item in items:
        refs = references(item, spec)
        assert refs and all(r.strip() for r in refs), (suite, item["origin"])
        if spec.scorer == "faithfulness":
            assert memory(item, spec) and memory(item, spec) != refs


def test_language_filter_on_parallel_questions_in_twelve_languages(tmp_path):
    """XQuAD: the same 1,190 questions in 12 languages. An English-only filter keeps the English
    ones and drops the others, each with its reason, also where lid.176 is unsure."""
    from conftest import run_recipe
    res = run_recipe(tmp_path, [{"path": str(SHARED / "xquad" / "*.json"), "source": "{stem}"}],
                     [{"use": "filter.language", "with": {"languages": ["en"]}}])   # question and answer
    import polars as pl
    kept = res.final().group_by("source").len().to_dict(as_series=False)
    kept = dict(zip(kept["source"], kept["len"]))
    assert kept["xquad.en"] >= 0.98 * 1190
    others = sum(n for source, n in kept.items() if source != "xquad.en")
    assert others <= 0.02 * 11 * 1190, kept
    rejected = res.rejected()
    assert rejected["reason"].unique().to_list() == ["language"]
    unsure = rejected.filter(pl.col("detail").str.contains("unsure"))
    assert unsure.height > 0 and unsure["detail"].str.contains("no kept language is a plausible reading").all()


def test_the_sentiment_sample_shares_no_item_with_its_eval_suite():
    """The README's compare example trains on data/sample_sentiment.jsonl and evaluates on
    Instruction-Induction `sentiment`: no training sentence may be an eval sentence."""
    import json
    from conftest import ROOT
    evals = json.loads((SHARED / "instruction_induction" / "raw" / "execute" / "sentiment.json").read_text())
    eval_inputs = {" ".join(e["input"].split()).lower() for e in evals["examples"].values()}
    drills = [json.loads(line) for line in (ROOT / "data" / "sample_sentiment.jsonl").read_text().splitlines()]
    assert len(drills) == 400 and not {d["input"].lower() for d in drills} & eval_inputs


@pytest.mark.parametrize("task,options", [("snarks", ["(A)", "(B)"]), ("sports_understanding", ["no", "yes"]),
                                          ("boolean_expressions", ["False", "True"])])
def test_bbh_choice_finds_each_tasks_options(task, options):
    from curate.evals.loglik_scoring import checked_items
    from curate.evals.run import suite_records
    from curate.evals.suites import load_suite
    spec = load_suite(f"bbh-choice:{task}")
    items = checked_items(suite_records(spec), spec)
    assert len(items) >= 100 and all(opts[:2] == options for opts, _ in items)


def test_conflictqa_choice_pairs_the_passage_answer_with_the_memory_answer():
    """Two options per item, the passage's (counter) answer the gold one; the one item whose two
    answers are the same sentence cannot be decided and is left out."""
    from curate.evals.loglik_scoring import checked_items
    from curate.evals.run import suite_records
    from curate.evals.suites import load_suite
    spec = load_suite("conflictqa-choice")
    records = suite_records(spec)
    items = checked_items(records, spec)
    decided = [(r, it) for r, it in zip(records, items) if it is not None]
    assert len(records) == 1245 and len(decided) == 1244
    for record, (options, gold) in decided[:50]:
        assert gold == 0 and options[0] == record["response"] and options[1] == record["memory_answer"]
        assert record["context"]                              # the counter-memory passage is in the prompt


def test_every_built_in_suite_says_what_it_measures_and_that_its_data_is_here(cli):
    from curate.evals.suites import BUILTINS
    result = cli("eval", "--list", "--data-dir", SHARED)
    assert result.exit_code == 0, result.output
    for name in BUILTINS:
        assert f"\n{name}  [" in result.output
    assert "data: missing" not in result.output and all(m for m, _, _ in BUILTINS.values())
    assert max(len(line) for line in result.output.splitlines()[1:]) <= 80     # after the data folder's path
