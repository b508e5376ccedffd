"""Exports handed to the trainers people use, tested with the real tools: LLaMA-Factory's own
dataset loader reads `dataset_info.json`, TRL's SFTTrainer trains on the messages export with
`assistant_only_loss=True` on the bundled model's chat template."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import pytest

from conftest import make_tiny_llama, run_recipe, write_jsonl

ROWS = [{"instruction": f"Question {i}: what is {i} plus {i}?", "input": "Use digits." if i % 2 else "",
         "output": f"{2 * i}", "system": "You are terse." if i % 3 == 0 else None,
         "history": [[f"Earlier question {i}", f"Earlier answer {i}"]] if i % 4 == 0 else []}
        for i in range(8)]


@pytest.fixture
def finished(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{k: v for k, v in r.items() if v is not None} for r in ROWS])
    return run_recipe(tmp_path, [{"path": "in.jsonl", "format": "alpaca"}], name="arith")


def llamafactory_loader(monkeypatch):
    """LLaMA-Factory's dataset parser and loader. It pins transformers <= 5.6 for its trainers (we
    have a newer one; its data code does not care: DISABLE_VERSION_CHECK is its own switch for
    that), and its package imports torchaudio at import time for audio datasets; torchaudio has no
    wheel for this torch here and text datasets never call it, so an empty module stands in."""
    pytest.importorskip("llamafactory", reason="LLaMA-Factory is installed by `make setup` (no deps)")
    monkeypatch.setenv("DISABLE_VERSION_CHECK", "1")
    if "torchaudio" not in sys.modules:
        try:
            import torchaudio  # noqa: F401
        except ImportError:
            stub = types.ModuleType("torchaudio")
            stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
            sys.modules["torchaudio"] = stub
    from llamafactory.data.loader import _load_single_dataset
    from llamafactory.data.parser import get_dataset_list
    return get_dataset_list, _load_single_dataset


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "messages"])
def test_llamafactory_loads_each_export_with_system_and_history(tmp_path, cli, finished, fmt, monkeypatch):
    get_dataset_list, load_single = llamafactory_loader(monkeypatch)
    from transformers import Seq2SeqTrainingArguments
    from llamafactory.hparams import DataArguments
    folder = tmp_path / f"lf-{fmt}"
    assert cli("export", finished.dir, "--to", folder, "--format", fmt).exit_code == 0
    (attr,) = get_dataset_list(["arith"], str(folder))
    data_args = DataArguments(dataset_dir=str(folder))
    model_args = types.SimpleNamespace(cache_dir=str(tmp_path / "hf"), hf_hub_token=None)
    training_args = Seq2SeqTrainingArguments(output_dir=str(tmp_path / "o"), report_to=[])
    aligned = load_single(attr, model_args, data_args, training_args)
    assert len(aligned) == len(ROWS)
    for row, example in zip(ROWS, aligned):
        assert example["_response"] == [{"role": "assistant", "content": row["output"]}], example
        prompt = example["_prompt"]
        assert len(prompt) == 1 + 2 * len(row["history"])             # earlier turns kept as turns
        if row["history"]:
            assert prompt[0]["content"] == row["history"][0][0] and prompt[1]["content"] == row["history"][0][1]
        assert row["instruction"] in prompt[-1]["content"]
        if row["input"]:
            assert row["input"] in prompt[-1]["content"]
        assert (example["_system"] or None) == row["system"]


def test_the_bundled_chat_template_marks_replies_and_renders_the_same_text(tmp_path):
    from transformers import AutoTokenizer
    from curate.models.chat_template import MARKER
    from curate.models.lm import resolve
    tok = AutoTokenizer.from_pretrained(resolve("bundled:smollm2-135m-instruct"))
    assert MARKER in tok.chat_template
    plain = tok.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    conversation = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "And?"},
                    {"role": "assistant", "content": "Bye."}]
    for messages in (conversation, conversation[1:], conversation[1:4]):
        for prompt in (False, True):
            assert tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt) == \
                tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt, chat_template=plain)
    out = tok.apply_chat_template(conversation[1:], tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    marked = tok.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m])
    assert marked == "Hello.<|im_end|>Bye.<|im_end|>"


def test_trl_trains_on_the_messages_export_with_assistant_only_loss(tmp_path, cli, finished):
    trl = pytest.importorskip("trl", reason="TRL is in the test extras")
    import datasets
    folder = tmp_path / "msgs"
    assert cli("export", finished.dir, "--to", folder, "--format", "messages").exit_code == 0
    train = datasets.load_dataset(str(folder), split="train", cache_dir=str(tmp_path / "hf"))
    model = make_tiny_llama(tmp_path / "tiny")
    config = trl.SFTConfig(output_dir=str(tmp_path / "sft"), assistant_only_loss=True, max_steps=2,
                           per_device_train_batch_size=4, report_to=[], use_cpu=True, save_strategy="no",
                           logging_steps=1, dataset_num_proc=None)
    trainer = trl.SFTTrainer(model=model, args=config, train_dataset=train)
    tok = trainer.processing_class
    for row, example in zip(ROWS, trainer.train_dataset):            # loss on the replies only
        learned = tok.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != -100])
        replies = [pair[1] for pair in row["history"]] + [row["output"]]
        assert learned == "".join(f"{reply}<|im_end|>" for reply in replies), learned
    result = trainer.train()
    assert result.global_step == 2 and json.dumps(trainer.state.log_history)


TASK_YAML = """task: tiny_mc
dataset_path: json
dataset_kwargs:
  data_files: {{test: {data}}}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
target_delimiter: ""
metric_list:
  - metric: acc
  - metric: acc_norm
"""


def test_lm_eval_harness_task_offline_matches_the_choice_scorer_item_by_item(tmp_path, cli, monkeypatch):
    """A local lm-eval task YAML, run through `curate eval --harness` (lm-eval's own evaluator),
    gives the same per-item accuracy and option log-likelihoods as curate's `choice` scorer on the
    same items; and a curate-trained adapter loads in lm-eval as `peft=`."""
    pytest.importorskip("lm_eval", reason="lm-eval-harness is a dependency of `curate eval --harness`")
    import polars as pl
    colours = ["red", "green", "blue", "yellow"]
    docs = [{"question": f"Which colour comes {k} in the list red, green, blue, yellow?", "choices": colours,
             "label": k % 4} for k in range(8)]
    write_jsonl(tmp_path / "mc.jsonl", docs)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "tiny_mc.yaml").write_text(TASK_YAML.format(data=tmp_path / "mc.jsonl"))
    model = make_tiny_llama(tmp_path / "tiny")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    result = cli("eval", "--harness", "tiny_mc", "--tasks-dir", tmp_path / "tasks", "--model", model,
                 "--out", tmp_path / "h")
    assert result.exit_code == 0, result.output
    harness = pl.read_parquet(tmp_path / "h" / "tiny_mc" / "predictions.parquet")
    (tmp_path / "mc.yaml").write_text("inputs: [{path: mc.jsonl, fields: {instruction: question, response: label},"
                                      " keep: [choices, label]}]\nscorer: choice\noptions_field: choices\n"
                                      "gold_field: label\ngroup_by: null\n")
    ours = cli("eval", "--suite", tmp_path / "mc.yaml", "--model", model, "--out", tmp_path / "c")
    assert ours.exit_code == 0, ours.output
    mine = pl.read_parquet(tmp_path / "c" / "predictions.parquet")
    assert harness.height == mine.height == 8
    assert harness["score"].to_list() == mine["score"].to_list()          # acc, item by item
    assert harness["acc_norm"].to_list() == mine["acc_norm"].to_list()
    for resps, margin, gold in zip(harness["prediction"], mine["margin"], [d["label"] for d in docs]):
        lls = [r[0] for r in json.loads(resps)]
        assert max(lls[gold] - max(ll for k, ll in enumerate(lls) if k != gold) - margin, 0) < 1e-3
    from curate.train.config import TrainConfig
    from curate.train.loop import Trainer
    write_jsonl(tmp_path / "train.jsonl", [{"instruction": d["question"], "output": colours[d["label"]]} for d in docs])
    Trainer(TrainConfig(data=str(tmp_path / "train.jsonl"), model=model, out=str(tmp_path / "t"), max_len=64),
            progress=False).run()
    tuned = cli("eval", "--harness", "tiny_mc", "--tasks-dir", tmp_path / "tasks", "--model", model,
                "--adapter", tmp_path / "t" / "adapter", "--out", tmp_path / "ht")
    assert tuned.exit_code == 0, tuned.output
    assert json.loads((tmp_path / "ht" / "tiny_mc" / "summary.json").read_text())["adapter"]


def test_an_unknown_harness_task_says_it_needs_the_network_or_a_yaml(tmp_path, cli):
    pytest.importorskip("lm_eval", reason="lm-eval-harness is a dependency of `curate eval --harness`")
    result = cli("eval", "--harness", "no_such_task_xyz", "--tasks-dir", tmp_path, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "needs the network" in result.output and "--tasks-dir" in result.output


def test_compare_harness_pairs_a_harness_task_and_reuses_it_only_while_its_data_is_the_same(tmp_path, cli,
                                                                                            monkeypatch):
    """`curate compare --harness TASK` trains both arms and runs the lm-eval task on every adapter;
    the result is paired like a suite's, and editing the task's data file is a new result."""
    pytest.importorskip("lm_eval", reason="lm-eval-harness is a dependency of `curate compare --harness`")
    import curate.evals.harness as harness_module
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    colours = ["red", "green", "blue", "yellow"]
    write_jsonl(tmp_path / "mc.jsonl", [{"question": f"Colour number {k}?", "choices": colours, "label": k % 4}
                                        for k in range(8)])
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "tiny_mc.yaml").write_text(TASK_YAML.format(data=tmp_path / "mc.jsonl"))
    for name, word in (("a", "red"), ("b", "blue")):
        write_jsonl(tmp_path / f"{name}.jsonl", [{"instruction": f"Colour number {k}?", "output": word} for k in range(8)])
    model = make_tiny_llama(tmp_path / "tiny")
    calls = []
    real = harness_module.run_harness
    monkeypatch.setattr(harness_module, "run_harness", lambda *a, **k: calls.append(a[1]) or real(*a, **k))

    def compare():
        calls.clear()
        result = cli("compare", "--baseline", tmp_path / "a.jsonl", "--treatment", tmp_path / "b.jsonl",
                     "--harness", "tiny_mc", "--tasks-dir", tmp_path / "tasks", "--model", model, "--seeds", "1",
                     "--max-len", "64", "--out", tmp_path / "cmp")
        assert result.exit_code == 0, result.output
        return len(calls), json.loads((tmp_path / "cmp" / "compare.json").read_text())
    runs, results = compare()
    assert runs == 2 and results["harness:tiny_mc"]["items"] == 8
    assert "harness:tiny_mc" in (tmp_path / "cmp" / "report.md").read_text()
    assert compare()[0] == 0                                              # the same task, data and arms
    write_jsonl(tmp_path / "mc.jsonl", [{"question": f"Colour number {k}?", "choices": colours, "label": (k + 1) % 4}
                                        for k in range(8)])
    assert compare()[0] == 2                                              # its data changed: evaluated again
