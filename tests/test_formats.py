"""Every reader maps its layout to canonical records; every writer round-trips through a reader."""

from __future__ import annotations

import json

import polars as pl
import pytest

from curate.errors import DataError
from curate.formats.writers import write_jsonl as write_format
from curate.records import content_id, to_messages
from conftest import run_recipe, write_jsonl

RECORDS = [
    {"instruction": "Name a colour.", "context": None, "response": "Blue.", "system": None, "history": None},
    {"instruction": "And another?", "context": None, "response": "Green.", "system": "Be brief.",
     "history": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]},
    {"instruction": "Summarize.", "context": "Cats sleep a lot. They hunt at dawn.", "response": "Cats nap and hunt.",
     "system": None, "history": None},
]
CONTENT = ["instruction", "context", "response", "system", "history"]


def read_back(tmp_path, path, **spec):
    return run_recipe(tmp_path, [{"path": str(path), **spec}]).final()


def as_dicts(frame: pl.DataFrame) -> list[dict]:
    return frame.select(CONTENT).to_dicts()


@pytest.mark.parametrize("fmt", ["alpaca", "messages", "sharegpt"])
def test_writers_round_trip(tmp_path, fmt):
    rows = RECORDS if fmt == "alpaca" else [r for r in RECORDS if not r["context"]]
    path = tmp_path / f"out.{fmt}.jsonl"
    write_format(rows, path, fmt)
    back = read_back(tmp_path, path)
    assert as_dicts(back) == rows
    assert back["id"].to_list() == [content_id(r["instruction"], r["context"], r["response"], r["system"],
                                               r["history"]) for r in rows]


def test_chat_writers_put_context_in_the_user_turn(tmp_path):
    path = tmp_path / "m.jsonl"
    write_format(RECORDS[2:], path, "messages")
    msg = json.loads(path.read_text())["messages"]
    assert msg[0] == {"role": "user", "content": "Summarize.\n\nCats sleep a lot. They hunt at dawn."}
    assert to_messages(RECORDS[1])[0] == {"role": "system", "content": "Be brief."}


def test_parquet_round_trip(tmp_path):
    first = run_recipe(tmp_path, [{"path": str(write_jsonl(tmp_path / "a.jsonl", [
        {"instruction": r["instruction"], "input": r["context"] or "", "output": r["response"],
         **({"system": r["system"]} if r["system"] else {}),
         **({"history": [["Name a colour.", "Blue."]]} if r["history"] else {})} for r in RECORDS]))}])
    back = read_back(tmp_path, first.dir / "final.parquet")
    assert as_dicts(back) == as_dicts(first.final())


CASES = {
    "dolly": ({"instruction": "Who wrote it?", "context": "Hamlet was written by Shakespeare.",
               "response": "Shakespeare.", "category": "closed_qa"},
              {"instruction": "Who wrote it?", "context": "Hamlet was written by Shakespeare.",
               "response": "Shakespeare.", "task": "closed_qa"}),
    "prompt_completion": ({"prompt": "Sentiment of 'great film'?", "completion": "positive<|endoftext|>"},
                          {"instruction": "Sentiment of 'great film'?", "response": "positive"}),
    "qa": ({"question": "2+2?", "answer": "2+2=4\n#### 4"}, {"instruction": "2+2?", "response": "2+2=4\n#### 4"}),
    "lima": ({"instruction": "Why?", "input": "", "output": "Because.", "history": [["Hi", "Hello!"]]},
             {"instruction": "Why?", "response": "Because.",
              "history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}),
    "self_instruct": ({"id": "s1", "name": "add", "instruction": "Add the numbers.", "is_classification": False,
                       "instances": [{"input": "1 2", "output": "3"}]},
                      {"instruction": "Add the numbers.", "context": "1 2", "response": "3", "task": "add"}),
    "prompts": ({"instruction": "Plan a trip.", "iteration": 2}, {"instruction": "Plan a trip.", "response": ""}),
}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_flat_and_row_readers_detect_and_map(tmp_path, fmt):
    raw, expected = CASES[fmt]
    back = read_back(tmp_path, write_jsonl(tmp_path / "x.jsonl", [raw]))
    row = back.row(0, named=True)
    for key, value in expected.items():
        assert row[key] == value, key
    explicit = read_back(tmp_path, tmp_path / "x.jsonl", format=fmt)
    assert explicit.select(CONTENT).equals(back.select(CONTENT))


def test_squad_reader_one_record_per_question(tmp_path):
    doc = {"version": "1.1", "data": [{"title": "Cats", "paragraphs": [{"context": "Cats purr.", "qas": [
        {"id": "q1", "question": "What do cats do?", "answers": [{"answer_start": 5, "text": "purr"}]},
        {"id": "q2", "question": "Who purrs?", "answers": [{"answer_start": 0, "text": "Cats"}]}]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(doc))
    back = read_back(tmp_path, path)
    assert back.select("instruction", "context", "response", "task").rows() == [
        ("What do cats do?", "Cats purr.", "purr", "Cats"), ("Who purrs?", "Cats purr.", "Cats", "Cats")]
    assert back["origin"].to_list() == ["squad.json#0", "squad.json#1"]


def test_instruction_induction_reads_gold_instruction_and_task(tmp_path):
    (tmp_path / "raw" / "execute").mkdir(parents=True)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "antonyms.json").write_text(json.dumps({"annotations": ["Write the antonym."]}))
    (tmp_path / "raw" / "execute" / "antonyms.json").write_text(json.dumps(
        {"metadata": {"num_examples": 2}, "examples": {"1": {"input": "hot", "output": "cold"},
                                                       "2": {"input": "up", "output": "down"}}}))
    (tmp_path / "raw" / "execute" / "cause_and_effect.json").write_text(json.dumps(
        {"metadata": {"num_examples": 1}, "examples": {"1": {"cause": "It rained.", "effect": "The grass is wet."}}}))
    back = read_back(tmp_path, tmp_path / "raw" / "execute" / "*.json")
    rows = back.select("instruction", "context", "response", "task").rows()
    assert ("Write the antonym.", "hot", "cold", "antonyms") in rows
    cause = [r for r in rows if r[3] == "cause_and_effect"][0]
    assert cause[2] == "It rained." and "It rained." in cause[1] and "The grass is wet." in cause[1]


def test_super_ni_task_file(tmp_path):
    path = tmp_path / "task001_quoref.json"
    path.write_text(json.dumps({"Definition": ["Answer the question."], "Positive Examples": [],
                                "Instances": [{"id": "a", "input": "Q?", "output": ["A1", "A2"]}]}))
    row = read_back(tmp_path, path).row(0, named=True)
    assert (row["instruction"], row["context"], row["response"], row["task"]) == (
        "Answer the question.", "Q?", "A1", "task001_quoref")


def test_sharegpt_preference_data_takes_chosen_reply(tmp_path):
    raw = {"conversations": [{"from": "human", "value": "Hi"}], "chosen": {"from": "gpt", "value": "Hello!"},
           "rejected": {"from": "gpt", "value": "Go away."}}
    row = read_back(tmp_path, write_jsonl(tmp_path / "dpo.jsonl", [raw])).row(0, named=True)
    assert (row["instruction"], row["response"]) == ("Hi", "Hello!")


def test_csv_with_header_and_field_mapping(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text('prompt,answer,category\n"Say hi, politely",Hello there,greet\n2+2?,4,math\n')
    back = read_back(tmp_path, path, fields={"instruction": "prompt", "response": "answer", "task": "category"})
    assert back.select("instruction", "response", "task").rows() == [
        ("Say hi, politely", "Hello there", "greet"), ("2+2?", "4", "math")]
    assert back["origin"].to_list() == ["qa.csv:2", "qa.csv:3"]


def test_tsv_without_header_maps_columns_by_index(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Translate cat\tchat\nTranslate dog\tchien\n")
    back = read_back(tmp_path, path, header=False, fields={"instruction": 0, "response": 1})
    assert back.select("instruction", "response").rows() == [("Translate cat", "chat"), ("Translate dog", "chien")]


def test_json_file_that_is_really_jsonl_and_files_without_extension(tmp_path):
    lines = tmp_path / "really_lines.json"
    write_jsonl(lines, [{"instruction": "a", "output": "b"}, {"instruction": "c", "output": "d"}])
    noext = tmp_path / "test_task"
    noext.write_text(json.dumps([{"instruction": "e", "input": "f", "output": "g"}]))
    back = read_back(tmp_path, tmp_path / "*", task="{stem}")
    assert sorted(back.select("instruction", "task").rows()) == [
        ("a", "really_lines"), ("c", "really_lines"), ("e", "test_task")]


def test_glob_reads_many_files_with_their_own_source(tmp_path):
    write_jsonl(tmp_path / "one.jsonl", [{"instruction": "a", "output": "b"}])
    write_jsonl(tmp_path / "two.jsonl", [{"prompt": "c", "completion": "d"}])
    back = read_back(tmp_path, tmp_path / "*.jsonl")
    assert back.select("source", "instruction").rows() == [("one", "a"), ("two", "c")]


def test_keep_extra_fields_as_columns(tmp_path):
    back = read_back(tmp_path, write_jsonl(tmp_path / "x.jsonl", [
        {"instruction": "a", "output": "b", "eng_output": "B"}]), keep=["eng_output"])
    assert back["eng_output"].to_list() == ["B"]


def test_unknown_layout_error_names_the_fields(tmp_path, cli):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"text": "hello", "meta": 1}])
    (tmp_path / "r.yaml").write_text(f"name: r\ninputs:\n  - path: {path}\n")
    res = cli("run", tmp_path / "r.yaml", "-q")
    assert res.exit_code == 1
    assert "odd.jsonl" in res.output and "['meta', 'text']" in res.output and "fields:" in res.output


def test_formats_command_lists_readers_and_writers(cli):
    res = cli("formats")
    assert res.exit_code == 0
    for name in ["alpaca", "sharegpt", "messages", "squad", "instruction_induction", "parquet"]:
        assert name in res.output


def test_jsonl_fast_path_gives_exactly_what_the_per_line_reader_gives(tmp_path, monkeypatch):
    import curate.io.fast_jsonl as fast
    import curate.io.sources as sources
    rows = []
    for i in range(60):
        rows.append({"instruction": f"q{i}", "input": "" if i % 3 else f"ctx {i}", "output": f"a{i}<|endoftext|>",
                     **({"system": "be nice"} if i % 4 == 0 else {}), **({"task": f"t{i % 2}"} if i % 5 else {})})
    rows[17]["history"] = [["hi", "hello"]]          # nested turns: that chunk goes per line
    rows[33]["output"] = 42                          # a number as text: per line too
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    with open(path, "a") as fh:
        fh.write("\n" + json.dumps({"instruction": "after a blank line", "output": "x"}) + "\n")
    monkeypatch.setattr(fast, "CHUNK_BYTES", 300)    # many chunks: some fast, some per line
    monkeypatch.setattr(sources, "line_chunks", lambda p: fast.line_chunks(p, 300))
    mixed = read_back(tmp_path, path, format="alpaca")
    monkeypatch.setattr(sources, "fast_frame", lambda *a, **k: None)
    per_line = run_recipe(tmp_path, [{"path": str(path), "format": "alpaca"}], name="slow").final()
    assert mixed.height == 61 and mixed.equals(per_line)
    assert mixed.filter(pl.col("instruction") == "q33")["response"].to_list() == ["42"]
    assert mixed["origin"][-1] == "mixed.jsonl:62"


NESTED = [{"question": f"Q{i}?", "passages": [{"passage": f"P{i}a", "summary": f"S{i}a"},
                                              {"passage": f"P{i}b", "summary": f"S{i}b"}],
           "short_answer": {"text": f"A{i}", "start": i}} for i in range(3)]


@pytest.mark.parametrize("context,expected", [
    ("passages[*].summary", "S1a\n\nS1b"), ("passages.1.passage", "P1b"), ("passages.0.summary", "S1a")])
def test_field_paths_reach_into_nested_data(tmp_path, context, expected):
    write_jsonl(tmp_path / "nested.jsonl", NESTED)
    back = read_back(tmp_path, tmp_path / "nested.jsonl",
                     fields={"instruction": "question", "context": context, "response": "short_answer.text"})
    assert back.row(1, named=True)["context"] == expected and back["response"].to_list() == ["A0", "A1", "A2"]


def test_a_path_that_does_not_resolve_names_file_line_and_what_is_there(tmp_path):
    rows = NESTED[:2] + [{"question": "Q?", "passages": [{"passage": "p"}], "short_answer": {"text": "a"}}]
    write_jsonl(tmp_path / "nested.jsonl", rows)
    with pytest.raises(DataError, match=r"nested.jsonl:3: .*path 'passages\[\*\]\.summary': passages\[0\] has no "
                                        r"field 'summary'; fields there: \['passage'\]"):
        read_back(tmp_path, tmp_path / "nested.jsonl",
                  fields={"instruction": "question", "context": "passages[*].summary", "response": "short_answer.text"})
    with pytest.raises(DataError, match=r"nested.jsonl:1: .*'passages' should be text, got list \(map a path"):
        read_back(tmp_path, tmp_path / "nested.jsonl",
                  fields={"instruction": "question", "context": "passages", "response": "short_answer.text"})


def test_a_mapped_field_no_record_has_is_an_error_and_some_missing_are_counted(tmp_path):
    from conftest import run_recipe
    rows = [{"q": f"Q{i}?", "a": f"A{i}", **({"ctx": f"C{i}"} if i % 2 else {})} for i in range(6)]
    write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(DataError, match=r"inputs\[0\]\.fields\.context: 'no_such_field' is absent or null in all 6 "
                                        r"records of d.jsonl; fields seen: \['a', 'q'\]"):
        run_recipe(tmp_path, [{"path": "d.jsonl", "fields": {"instruction": "q", "response": "a",
                                                             "context": "no_such_field"}}])
    res = run_recipe(tmp_path, [{"path": "d.jsonl", "fields": {"instruction": "q", "response": "a", "context": "ctx"}}])
    assert res.manifest["inputs"][0]["empty_fields"] == {"context": 3}
