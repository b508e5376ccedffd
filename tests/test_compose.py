"""Sequential and chained instructions: exact intermediate-task answers, lineage, caps, the
chainability check, the CoI format, and the generator backends (a loopback OpenAI-compatible
server, a tiny local model, the bundled SmolLM2) with their prompt cache."""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from curate.steps.compose import chain_format
from curate.steps.compose.bank import BANK, accepts, task_params
from curate.steps.compose.phrasing import HELD_OUT, PREFIX, SUFFIX, already_sequential
from curate.evals.scorers import step_matches, steps_in_order
from curate.models.generate import Generator, GeneratorConfig
from conftest import SHARED, make_tiny_llama, run_recipe, write_jsonl


@pytest.mark.parametrize("task,text,params,expected", [
    ("repeat_input", "  copy me  ", {}, "copy me"),
    ("repeat_request", "Translate this.", {}, "Translate this."),
    ("count_words", "one two  three\nfour", {}, "4"),
    ("uppercase", "Hello, World 2", {}, "HELLO, WORLD 2"),
    ("lowercase", "Hello, World", {}, "hello, world"),
    ("first_words", "The quick brown fox jumps.", {"n": 3}, "The quick brown"),
    ("extract_numbers", "Pay $1,200.50 for 3 items, not -4.", {}, "1,200.50, 3, -4"),
    ("sort_items", "- pear\n- Apple\n- banana", {}, "Apple\nbanana\npear"),
    ("sort_items", "red, green, blue", {}, "blue\ngreen\nred"),
    ("reverse_words", "one two three", {}, "three two one"),
    ("to_json", 'He said "hi"', {"key": "answer"}, '{"answer": "He said \\"hi\\""}'),
    ("bullet_list", "It rains. We stay in! Why not?", {}, "- It rains.\n- We stay in!\n- Why not?"),
])
def test_every_bank_task_answers_exactly(task, text, params, expected):
    assert BANK[task].check(text, "input" if task != "repeat_request" else "request") is None
    assert BANK[task].answer(text, params) == expected


@pytest.mark.parametrize("task,text,target,reason", [
    ("repeat_input", None, "input", "empty"),
    ("repeat_input", "x", "answer", "does not apply"),
    ("uppercase", "ALREADY LOUD", "answer", "no lowercase"),
    ("extract_numbers", "no digits here", "answer", "no numbers"),
    ("sort_items", "just a sentence, nothing more", "answer", "not a list"),
    ("first_words", "too short", "answer", "3 words or fewer"),
    ("count_words", "word " * 600, "input", "over 2000"),
])
def test_bank_tasks_skip_texts_they_do_not_apply_to_with_a_reason(task, text, target, reason):
    assert reason in BANK[task].check(text, target)


def test_phrasings_fill_their_parameters_and_held_out_ones_stay_out_of_training():
    rng = random.Random(0)
    for task in BANK.values():
        target = sorted(task.targets)[0]
        text = "- alpha 1\n- beta 2\n- gamma 3"
        params = task_params(task, text, target, rng)
        assert "{" not in task.phrase(target, params, rng).replace('"{', "")
        assert task.held_out not in task.phrasings
    assert HELD_OUT["prefix"] not in PREFIX and HELD_OUT["suffix"] not in SUFFIX


@pytest.mark.parametrize("instruction,multi", [
    ("Summarize the text and then translate it to French.", True),
    ("1. List the names.\n2. Sort them.", True),
    ("Translate the sentence, after that explain the grammar.", True),
    ("Explain what a black hole is.", False),
    ("Then and now: compare two photos.", False),
])
def test_already_sequential_instructions_are_recognised(instruction, multi):
    assert (already_sequential(instruction) is not None) == multi


def test_chain_format_round_trip_and_loose_published_spellings():
    assert chain_format.parse(chain_format.render(["a b", "c", "d e"])) == ["a b", "c", "d e"]
    assert chain_format.parse("Task 1 output and task 2 input: x y.  Task 2 output: z") == ["x y.", "z"]
    assert chain_format.parse("Task 1 output and task 2 input: x\nTask2 output: z") == ["x", "z"]
    assert chain_format.parse("Just an answer.") is None
    assert chain_format.parse("Task 2 output: z\nTask 1 output and task 2 input: x") is None
    assert chain_format.parse("Task 1 output and task 2 input: \nTask 2 output: z") is None


def test_steps_are_scored_in_order_and_case_matters_only_for_capitals():
    assert step_matches("0 47\n\n47", ["0 47", "47"]) == [1.0, 1.0]
    assert step_matches("47", ["0 47", "47"]) == [0.0, 1.0]
    assert step_matches("family\nf", ["FAMILY", "f"]) == [0.0, 1.0]          # not in capitals
    assert step_matches("of course", ["f"]) == [0.0]                          # whole words only
    assert step_matches('47\n{"answer":"47"}', ["47", '{"answer": "47"}']) == [1.0, 1.0]
    assert steps_in_order("b then a", ["a", "b"]) == 0.5                     # order counts


def test_chain_content_score_ignores_the_step_labels():
    from curate.evals.scorers import rouge_l, rouge_l_content
    ref = ["Task 1 output and task 2 input: the cat sat.\nTask 2 output: 3"]
    labels_only = "Task 1 output and task 2 input: a dog ran.\nTask 2 output: 7"
    assert rouge_l(labels_only, ref) > 0.5 and rouge_l_content(labels_only, ref) == 0.0
    assert rouge_l_content("the cat sat. 3", ref) == pytest.approx(1.0)


def sample_rows(n: int = 40) -> list[dict]:
    rows = []
    for i in range(n):
        if i % 4 == 0:
            rows.append({"instruction": f"Summarize the note {i}.", "input": f"Note {i}: the shop opens at {i} am "
                         "and closes at 6 pm. Bring the red form.", "output": f"The shop opens at {i} am."})
        elif i % 4 == 1:
            rows.append({"instruction": f"List three fruits for day {i}.", "input": "",
                         "output": "- mango\n- Apple\n- kiwi"})
        elif i % 4 == 2:
            rows.append({"instruction": f"Explain item {i} and then give an example.", "input": "",
                         "output": f"Item {i} is a thing. For example, a cup."})
        else:
            rows.append({"instruction": f"What is {i} plus {i}?", "input": "", "output": f"It is {2 * i}."})
    return rows


def test_sequential_adds_versions_with_lineage_and_keeps_every_original(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", sample_rows())
    res = run_recipe(tmp_path, [{"path": str(data)}], [{"use": "compose.sequential", "with": {"ratio": 1.0}}])
    final = res.final()
    originals = final.filter(pl.col("tag_sequential").is_null())
    added = final.filter(pl.col("tag_sequential").is_not_null())
    assert originals.height == 40
    ids = set(originals["id"])
    assert added.height == 30 and all(p[0] in ids for p in added["parent_ids"])
    assert set(added["id"]).isdisjoint(ids)
    ledger = res.rejected()
    assert set(ledger["reason"]) == {"already_sequential"} and ledger.height == 10     # "... and then ..."
    by_id = {r["id"]: r for r in originals.to_dicts()}
    for rec in added.to_dicts():
        parent = by_id[rec["parent_ids"][0]]
        position, task = rec["tag_sequential"].split(":")
        assert parent["response"] in rec["response"]
        first, second = rec["response"].split("\n\n", 1) if position == "prefix" else \
            rec["response"].rsplit("\n\n", 1)
        step_answer = first if position == "prefix" else second
        source = {"repeat_request": parent["instruction"]}.get(task) or (
            parent["context"] if position == "prefix" else parent["response"])
        if task not in ("first_words",):                     # first_words draws n; the rest are parameter-free
            key = {"to_json": "answer" if position == "suffix" else "text"}
            assert step_answer == BANK[task].answer(source, {"key": key.get("to_json")})
    m = res.manifest
    assert m["rows"]["read"] + m["rows"]["added"] == m["rows"]["final"] + m["rows"]["rejected"]


def test_sequential_caps_tasks_and_ledgers_records_no_task_applies_to(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", sample_rows())
    res = run_recipe(tmp_path, [{"path": str(data)}], [{"use": "compose.sequential", "with": {
        "ratio": 1.0, "tasks": ["repeat_input", "sort_items"], "max_per_task": 4}}])
    added = res.final().filter(pl.col("tag_sequential").is_not_null())
    counts = dict(added.group_by("tag_sequential").len().iter_rows())
    assert counts == {"prefix:repeat_input": 4, "suffix:sort_items": 4}
    reasons = res.rejected().group_by("reason").len()
    assert dict(reasons.iter_rows())["no_applicable_task"] == 30 - 8
    detail = res.rejected().filter(pl.col("reason") == "no_applicable_task")["detail"].to_list()
    assert all(d.startswith("not composed (record kept)") for d in detail)
    assert any("cap reached" in d for d in detail) and any("not a list" in d for d in detail)
    from curate.io.manifest import funnel_rows
    row = funnel_rows(res.manifest)[-1]
    assert (row["in"], row["kept"], row["rejected"], row["added"], row["declined"]) == (40, 40, 0, 8, 32)


def test_chains_respect_the_chainability_check(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", sample_rows(80))
    res = run_recipe(tmp_path, [{"path": str(data)}], [
        {"use": "compose.chain", "with": {"ratio": 1.0, "lengths": [2, 3]}},
        {"use": "tag.chain", "with": {"require": False}}])
    final = res.final()
    chains = final.filter(pl.col("tag_chain").is_not_null())
    parents = {r["id"]: r for r in final.filter(pl.col("tag_chain").is_null()).to_dicts()}
    assert chains.height >= 50 and set(chains["tag_chain_steps"]) == {2, 3}
    for rec in chains.to_dicts():
        outputs = chain_format.parse(rec["response"])
        names = rec["tag_chain"].split(">")
        assert len(outputs) == len(names) == rec["instruction"].count(" and then ") + 1
        assert outputs[0] == parents[rec["parent_ids"][0]]["response"].strip()
        assert len(set(names[1:])) == len(names) - 1                   # no task twice
        for prev, out, name in zip(outputs, outputs[1:], names[1:]):
            assert accepts(BANK[name], prev), (name, prev)                # the step takes the previous output
            assert out != prev
            if name not in ("first_words",):
                assert out == BANK[name].answer(prev, {"key": "text"})
    assert "sort_items" not in {n for t in chains["tag_chain"] for n in t.split(">")[1:2]} or \
        chains.filter(pl.col("tag_chain").str.contains(">sort_items"))["response"].str.contains("- ").all()


@pytest.mark.skipif(not (SHARED / "chain_of_instructions").is_dir(), reason="../shared/data/chain_of_instructions absent")
def test_published_coi_files_read_and_check_as_chains(tmp_path):
    res = run_recipe(tmp_path, [{"path": str(SHARED / "chain_of_instructions/train/coi_2.json")},
                                {"path": str(SHARED / "chain_of_instructions/train/coi_3.json")}],
                     [{"use": "tag.chain", "with": {"require": True}}])
    final = res.final()
    assert final.height > 0.95 * 5120
    assert set(final["tag_chain_steps"]) == {2, 3}
    ledger = res.rejected()
    assert ledger.height == 5120 - final.height
    assert set(ledger["reason"]) <= {"not_chain_format", "chain_step_mismatch"}


# --- generator backends -------------------------------------------------------------------

class FakeEndpoint(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions that answers by rules, fails on cue, and counts calls."""

    calls = 0
    seen: dict = {}

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        type(self).calls += 1
        type(self).seen[prompt] = type(self).seen.get(prompt, 0) + 1
        if self.headers.get("Authorization") != "Bearer sk-test":
            return self._send(401, b'{"error": "bad key"}')
        if "FLAKY" in prompt and type(self).seen[prompt] == 1:
            return self._send(503, b'{"error": "busy"}')
        if "SLOW" in prompt:
            time.sleep(0.6)
        if "BROKEN" in prompt:
            return self._send(200, b"not json")
        if prompt.startswith("You turn single instructions"):
            text = "keep" if "KEEP" in prompt else ("banana" if "ODD" in prompt else "prefix")
        elif prompt.startswith("Rewrite the instruction"):
            instruction = prompt.split("Instruction: ", 1)[1].split("\n")[0]
            text = f"First, restate the input. Then {instruction}"
        else:
            text = "Here is the restated input. And here is the answer."
        self._send(200, json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode())

    def _send(self, status: int, payload: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def endpoint(monkeypatch):
    FakeEndpoint.calls, FakeEndpoint.seen = 0, {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("TEST_KEY", "sk-test")
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def openai_config(url: str, tmp_path, **kw) -> GeneratorConfig:
    return GeneratorConfig(backend="openai", base_url=url, model="fake", api_key_env="TEST_KEY", timeout_s=0.3,
                           retries=1, backoff_s=0.01, cache_path=str(tmp_path / "gen.sqlite"), **kw)


def test_openai_backend_retries_gives_up_and_caches(endpoint, tmp_path):
    gen = Generator(openai_config(endpoint, tmp_path, concurrency=4))
    asks = [[{"role": "user", "content": text}] for text in ["hello", "FLAKY one", "SLOW one", "BROKEN one"]]
    out = gen.complete(asks)
    assert out[0].ok and out[1].ok                               # FLAKY: a 503, retried, then answered
    assert FakeEndpoint.seen["FLAKY one"] == 2
    assert not out[2].ok and "timeout" in out[2].error and FakeEndpoint.seen["SLOW one"] == 2
    assert not out[3].ok and "malformed response" in out[3].error
    before = FakeEndpoint.calls
    again = gen.complete(asks[:2])
    assert FakeEndpoint.calls == before and all(c.cached and c.ok for c in again)    # cache hit, nothing sent
    assert [c.text for c in again] == [out[0].text, out[1].text]


def test_openai_backend_does_not_retry_a_bad_key(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_KEY", "wrong")
    out = Generator(openai_config(endpoint, tmp_path)).complete([[{"role": "user", "content": "hi"}]])
    assert "HTTP 401" in out[0].error and FakeEndpoint.calls == 1


def test_sequential_generator_mode_over_http_ledgers_every_failure(endpoint, tmp_path):
    rows = [{"instruction": f"Describe city {i}.", "input": f"City {i} lies on a river.", "output": f"City {i}."}
            for i in range(6)]
    rows[1]["instruction"] = "Describe city KEEP."
    rows[2]["instruction"] = "Describe city ODD."
    rows[3]["instruction"] = "Describe city BROKEN."
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    gen = openai_config(endpoint, tmp_path).model_dump()
    steps = [{"use": "compose.sequential", "with": {"ratio": 1.0, "mode": "generator", "generator": gen}}]
    res = run_recipe(tmp_path, [{"path": str(data)}], steps)
    added = res.final().filter(pl.col("tag_sequential").is_not_null())
    assert added.height == 3 and set(added["tag_sequential"]) == {"generator:prefix"}
    assert all(i.startswith("First, restate the input. Then Describe city") for i in added["instruction"])
    reasons = dict(res.rejected().group_by("reason").len().iter_rows())
    assert reasons == {"generator_keep": 1, "generator_format": 1, "generator_error": 1}
    calls = FakeEndpoint.calls
    rerun = RunResult_fresh(tmp_path, data, steps)
    assert FakeEndpoint.calls - calls == 1      # only the failure (BROKEN, not cached) is asked again
    assert rerun.final().height == res.final().height


def RunResult_fresh(tmp_path, data, steps):
    from curate.recipe import Recipe
    from curate.runner import RunResult, Runner
    recipe = Recipe(name="t", inputs=[{"path": str(data)}], steps=steps)
    return RunResult(Runner(recipe, tmp_path / "runs", fresh=True, progress=False).run())


def test_local_backend_generates_in_batches_and_caches(tmp_path):
    model = make_tiny_llama(tmp_path / "tiny")
    gen = Generator(GeneratorConfig(model=model, max_new_tokens=6, device="cpu",
                                    cache_path=str(tmp_path / "gen.sqlite")))
    asks = [[{"role": "user", "content": t}] for t in ["Hi", "Name a colour", "Count to three"]]
    first = gen.complete(asks)
    assert all(c.ok and isinstance(c.text, str) for c in first) and gen.backend.calls == 3
    second = gen.complete(asks)
    assert gen.backend.calls == 3 and [c.text for c in second] == [c.text for c in first]


def test_chain_from_records_needs_a_generator(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", sample_rows(8))
    with pytest.raises(Exception, match="from_records needs a generator"):
        run_recipe(tmp_path, [{"path": str(data)}], [{"use": "compose.chain", "with": {"from_records": True}}])


def test_chain_from_records_with_the_bundled_model(tmp_path):
    """Integration: record tasks chosen by instruction similarity and answered by the bundled SmolLM2."""
    rows = [{"instruction": "Summarize the paragraph in one sentence.", "input": "The river floods each spring. "
             "Farmers plant after the water goes down. The soil is rich.", "output": "The river floods every "
             "spring and leaves rich soil for farmers."},
            {"instruction": "Rewrite the paragraph in simpler words.", "input": "Precipitation was abundant.",
             "output": "It rained a lot."},
            {"instruction": "Translate the paragraph into French.", "input": "The cat sleeps.",
             "output": "Le chat dort."}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    gen = {"model": "bundled:smollm2-135m-instruct", "max_new_tokens": 24, "device": "cpu",
           "cache_path": str(tmp_path / "gen.sqlite")}
    res = run_recipe(tmp_path, [{"path": str(data)}], [{"use": "compose.chain", "with": {
        "ratio": 1.0, "from_records": True, "tasks": ["count_words"], "generator": gen, "max_per_task": 1,
        "min_similarity": 0.1, "max_similarity": 0.95}}])
    chains = res.final().filter(pl.col("tag_chain").is_not_null())
    ledger = res.rejected()
    assert chains.height + ledger.height == 3
    assert chains.height >= 1
    record_chains = chains.filter(pl.col("tag_chain").str.contains(">record"))
    assert record_chains.height >= 1
    assert set(ledger["reason"]) <= {"generator_format", "no_chainable_task"}
    for rec in record_chains.to_dicts():
        outputs = chain_format.parse(rec["response"])
        assert len(outputs) == 2 and outputs[1]
        assert rec["instruction"].split(" and then ")[1] in [r["instruction"] for r in rows]


@pytest.mark.parametrize("recipe,tag", [("sequential.yaml", "tag_sequential"), ("chain.yaml", "tag_chain")])
def test_bundled_recipes_run_offline_on_the_sample_data(recipe, tag, tmp_path, monkeypatch):
    from curate import run
    from conftest import ROOT
    monkeypatch.chdir(ROOT)                      # as in the README: run from the project folder
    res = run(ROOT / "recipes" / recipe, out=tmp_path / "runs")
    final = res.final()
    added = final.filter(pl.col(tag).is_not_null())
    m = res.manifest
    assert added.height == m["rows"]["added"] > 50
    assert m["rows"]["read"] + m["rows"]["added"] == m["rows"]["final"] + m["rows"]["rejected"]
    assert set(added["parent_ids"].list.first()) <= set(final.filter(pl.col(tag).is_null())["id"])
    lineage = res.sql("SELECT count(*) AS n FROM lineage WHERE step LIKE 'compose.%'")["n"][0]
    assert lineage == added.height


@pytest.mark.skipif(not (SHARED / "instruction_induction").is_dir(), reason="../shared/data/instruction_induction absent")
def test_sequential_suite_uses_held_out_phrasing_and_scores_each_step():
    from curate.evals.run import suite_records
    from curate.evals.suites import load_suite
    items = suite_records(load_suite("ii-sequential:sum,singular_to_plural"), 20)
    assert len(items) == 40
    for item in items:
        steps = json.loads(item["steps"])
        assert len(steps) == 2 and item["response"] == "\n\n".join(steps)
        assert item["instruction"].startswith("To start, ") or " Next, " in item["instruction"]
        assert steps_in_order(item["response"], steps) == 1.0
    position, name = items[0]["step_task"].split(":")
    assert BANK[name].held_out.split(" {")[0] in items[0]["instruction"]


@pytest.mark.skipif(not (SHARED / "instruction_induction").is_dir(), reason="../shared/data/instruction_induction absent")
def test_instruction_induction_suite_without_its_annotations_is_a_clear_error(tmp_path):
    import shutil
    from curate.errors import ConfigError
    from curate.evals.run import suite_records
    from curate.evals.suites import load_suite
    folder = tmp_path / "raw" / "execute"
    folder.mkdir(parents=True)
    shutil.copy(SHARED / "instruction_induction/raw/execute/sum.json", folder)
    suite = tmp_path / "s.yaml"
    suite.write_text(f"inputs: [{{path: {folder / 'sum.json'}}}]\nsequential: true\n")
    with pytest.raises(ConfigError, match="no instruction.*annotations"):
        suite_records(load_suite(str(suite)), 5)


@pytest.mark.parametrize("rewrite,problem", [
    ("", "empty rewrite"),
    ("describe the city.", "equals the original"),
    ("Describe the city in detail.", "does not have two steps"),
    ("First, list the landmarks. Then describe the city.", None),
    ("Translate the input, and then describe the city.", None),
    ("x " * 500, "far longer"),
])
def test_generator_rewrites_must_be_new_two_step_instructions(rewrite, problem):
    from curate.steps.compose.generator_mode import check_rewrite, parse_label
    got = check_rewrite("Describe the city.", rewrite)
    assert (got is None) if problem is None else (problem in got)
    assert parse_label("I think: Suffix.") == "suffix" and parse_label("no idea") is None


def test_generator_mode_uses_the_users_prompt_files(endpoint, tmp_path):
    from curate.recipe import Recipe
    from curate.runner import RunResult, Runner
    (tmp_path / "my_classify.txt").write_text("You turn single instructions into steps. KEEP unless sure.\n"
                                              "Instruction: {instruction}\nInput: {input}\n")
    data = write_jsonl(tmp_path / "d.jsonl", [{"instruction": f"Describe city {i}.", "input": "", "output": "A city."}
                                              for i in range(3)])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({"name": "p", "inputs": [{"path": str(data)}], "steps": [{
        "use": "compose.sequential", "with": {"ratio": 1.0, "mode": "generator",
                                             "prompts": {"classify": "my_classify.txt"},
                                             "generator": openai_config(endpoint, tmp_path).model_dump()}}]}))
    res = RunResult(Runner(Recipe.load(recipe), tmp_path / "runs", progress=False).run())
    assert set(res.rejected()["reason"]) == {"generator_keep"} and res.rejected().height == 3
    assert all("KEEP unless sure" in p for p in FakeEndpoint.seen)


def test_sequential_version_of_a_user_suite_scores_every_step(tmp_path, cli):
    model = make_tiny_llama(tmp_path / "tiny")
    write_jsonl(tmp_path / "items.jsonl", [{"instruction": "Name the colour of the object.", "input": f"a {c} ball",
                                            "output": c} for c in ["red", "blue", "green", "yellow"]])
    (tmp_path / "suite.yaml").write_text("inputs: [{path: items.jsonl}]\nsequential: true\nmax_new_tokens: 6\n")
    result = cli("eval", "--model", model, "--suite", tmp_path / "suite.yaml", "--out", tmp_path / "ev")
    assert result.exit_code == 0, result.output
    assert "step_1" in result.output and "all steps" in result.output
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    preds = pl.read_parquet(tmp_path / "ev" / "predictions.parquet")
    assert summary["scorer"] == "steps_in_order" and set(summary["steps"]) == {"step_1", "step_2"}
    assert preds["answers"].list.len().to_list() == [2] * 4 and preds["step_scores"].list.len().to_list() == [2] * 4
    assert summary["score"] == pytest.approx(preds["score"].mean())
