"""Bad input gets a clear error naming file, line and field, or a ledger row with a reason."""

from __future__ import annotations

import json

import pytest

from curate.errors import ConfigError, DataError
from conftest import alpaca, run_recipe, write_jsonl


def bad_lines(tmp_path):
    path = tmp_path / "bad.jsonl"
    with open(path, "wb") as fh:
        fh.write(json.dumps(alpaca(1)).encode() + b"\n")
        fh.write(b'{"instruction": "broken", "output": \n')                       # line 2: malformed
        fh.write(json.dumps({"instruction": "no answer"}).encode() + b"\n")        # line 3: missing output
        fh.write(json.dumps({"instruction": ["a"], "output": "x"}).encode() + b"\n")  # line 4: wrong type
        fh.write('{"instruction": "caf\xe9", "output": "x"}\n'.encode("latin-1"))   # line 5: not UTF-8
        fh.write(b"\n")                                                             # blank line: skipped
        fh.write(json.dumps(alpaca(2)).encode() + b"\n")
    return path


def test_malformed_line_stops_with_file_and_line(tmp_path):
    bad_lines(tmp_path)
    with pytest.raises(DataError) as info:
        run_recipe(tmp_path, [{"path": "bad.jsonl", "format": "alpaca"}])
    assert "bad.jsonl:2: malformed JSON" in str(info.value) and "on_error: quarantine" in str(info.value)


def test_quarantine_puts_each_bad_row_in_the_ledger(tmp_path):
    bad_lines(tmp_path)
    res = run_recipe(tmp_path, [{"path": "bad.jsonl", "format": "alpaca", "on_error": "quarantine",
                                 "max_bad_share": 0.7}])      # 4 of 6 rows are bad
    assert res.final().height == 2
    ledger = {r["origin"]: r for r in res.rejected().to_dicts()}
    assert ledger["bad.jsonl:2"]["reason"] == "parse_error"
    assert ledger["bad.jsonl:3"]["reason"] == "missing_field" and "'response'" in ledger["bad.jsonl:3"]["detail"]
    assert ledger["bad.jsonl:4"]["reason"] == "wrong_type" and "'instruction'" in ledger["bad.jsonl:4"]["detail"]
    assert ledger["bad.jsonl:5"]["reason"] == "encoding_error" and "UTF-8" in ledger["bad.jsonl:5"]["detail"]
    read = res.manifest["stages"][0]
    assert read["in"] == 6 and read["kept"] == 2 and read["rejected"] == 4
    assert res.manifest["inputs"][0]["quarantined"] == 4


def test_quarantine_stops_on_a_file_that_is_mostly_bad(tmp_path):
    bad_lines(tmp_path)                                # 4 of 6 rows bad: more than the default 50%
    with pytest.raises(DataError, match=r"bad.jsonl: 4 of 6 rows are bad .*max_bad_share: 0.5.*bad.jsonl:2"):
        run_recipe(tmp_path, [{"path": "bad.jsonl", "format": "alpaca", "on_error": "quarantine"}])


def test_quarantine_of_a_binary_file_is_an_error_not_an_empty_dataset(tmp_path):
    (tmp_path / "blob.jsonl").write_bytes(bytes(range(256)) * 64 + b"\n\x00\xff\xfe\n" * 50)
    with pytest.raises(DataError, match="blob.jsonl: .* rows are bad .*wrong file"):
        run_recipe(tmp_path, [{"path": "blob.jsonl", "on_error": "quarantine"}])


@pytest.mark.parametrize("sep,ext", [(",", "csv"), ("\t", "tsv")])
def test_csv_row_with_an_extra_column_is_quarantined_with_its_line(tmp_path, sep, ext):
    rows = [["prompt", "answer"]] + [[f"q{i}", f"a{i}"] for i in range(6)]
    rows[3] = ["q2", "a2", "stray"]                   # line 4 of the file
    (tmp_path / f"qa.{ext}").write_text("\n".join(sep.join(r) for r in rows) + "\n")
    spec = {"path": f"qa.{ext}", "fields": {"instruction": "prompt", "response": "answer"}}
    with pytest.raises(DataError, match=f"qa.{ext}:4: 3 fields where the header has 2"):
        run_recipe(tmp_path, [spec])
    res = run_recipe(tmp_path, [{**spec, "on_error": "quarantine"}])
    assert res.final()["instruction"].to_list() == ["q0", "q1", "q3", "q4", "q5"]
    assert res.rejected().select("origin", "reason").rows() == [(f"qa.{ext}:4", "parse_error")]


@pytest.mark.parametrize("raw,field,kind", [
    ({"instruction": "a"}, "response", "missing"),
    ({"instruction": "a", "output": None}, "response", "null"),
    ({"instruction": {"x": 1}, "output": "b"}, "instruction", "should be text"),
])
def test_missing_and_wrong_fields_name_the_field(tmp_path, raw, field, kind):
    write_jsonl(tmp_path / "x.jsonl", [alpaca(0), raw])
    with pytest.raises(DataError) as info:
        run_recipe(tmp_path, [{"path": "x.jsonl", "format": "alpaca"}])
    assert "x.jsonl:2" in str(info.value) and f"'{field}'" in str(info.value) and kind in str(info.value)


def test_empty_and_whitespace_files(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    for name in ("empty.jsonl", "blank.jsonl"):
        with pytest.raises(DataError, match=f"{name}: (file is empty|no records)"):
            run_recipe(tmp_path, [{"path": name}])


def test_non_utf8_json_file_names_line(tmp_path):
    (tmp_path / "x.json").write_bytes(b'[\n{"instruction": "a", "output": "b"},\n{"instruction": "\xff", "output": "c"}]')
    with pytest.raises(DataError, match=r"x.json:3: not valid UTF-8 \(byte 0xff"):
        run_recipe(tmp_path, [{"path": "x.json"}])


def test_missing_input_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="inputs\\[0\\].path: no file matches 'nope/\\*.jsonl'"):
        run_recipe(tmp_path, [{"path": "nope/*.jsonl"}])


def test_unknown_format_lists_known_ones(tmp_path):
    write_jsonl(tmp_path / "x.jsonl", [alpaca(0)])
    with pytest.raises(ConfigError, match="unknown format 'alpacca'.*alpaca"):
        run_recipe(tmp_path, [{"path": "x.jsonl", "format": "alpacca"}])


def test_custom_mapping_without_instruction_is_a_config_error(tmp_path):
    write_jsonl(tmp_path / "x.jsonl", [{"q": "a", "a": "b"}])
    with pytest.raises(ConfigError, match="fields.*instruction"):
        run_recipe(tmp_path, [{"path": "x.jsonl", "fields": {"response": "a"}}])


def test_cli_exit_codes(tmp_path, cli):
    write_jsonl(tmp_path / "ok.jsonl", [alpaca(0)])
    bad_lines(tmp_path)
    (tmp_path / "good.yaml").write_text("name: g\ninputs:\n  - path: ok.jsonl\n")
    (tmp_path / "typo.yaml").write_text("name: g\ninputs:\n  - path: ok.jsonl\nsteps:\n  - use: dedup.exat\n")
    (tmp_path / "baddata.yaml").write_text("name: g\ninputs:\n  - path: bad.jsonl\n")
    (tmp_path / "broken.yaml").write_text("name: g\ninputs: [\n")
    ok = cli("run", tmp_path / "good.yaml", "-q")
    assert ok.exit_code == 0 and ok.output.strip().splitlines()[-1].startswith("runs/g-")
    typo = cli("run", tmp_path / "typo.yaml", "-q")
    assert typo.exit_code == 2 and "typo.yaml:5" in typo.output and "dedup.exact" in typo.output
    assert "Traceback" not in typo.output
    data = cli("run", tmp_path / "baddata.yaml", "-q")
    assert data.exit_code == 1 and "bad.jsonl:2" in data.output
    assert cli("run", tmp_path / "broken.yaml").exit_code == 2
    assert cli("run", tmp_path / "missing.yaml").exit_code == 2
    assert cli("show", tmp_path).exit_code == 2


def test_hub_input_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(DataError, match="cannot load Hub dataset 'someone/nothing-here'.*`path:`"):
        run_recipe(tmp_path, [{"hub": "someone/nothing-here"}])


def test_csv_row_that_is_not_utf8_is_quarantined_alone(tmp_path):
    lines = [b"prompt,answer", b"q0,a0", b'"multi\nline q1",a1', "q2,caf\xe9".encode("latin-1"), b"q3,a3", b"q4,a4"]
    (tmp_path / "qa.csv").write_bytes(b"\n".join(lines) + b"\n")
    res = run_recipe(tmp_path, [{"path": "qa.csv", "on_error": "quarantine",
                                 "fields": {"instruction": "prompt", "response": "answer"}}])
    assert res.final()["instruction"].to_list() == ["q0", "multi\nline q1", "q3", "q4"]
    assert res.rejected().select("origin", "reason").rows() == [("qa.csv:5", "encoding_error")]
