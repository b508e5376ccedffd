"""Context-dependency tagging and the conditional indicator (issue: context tagging)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from conftest import make_tiny_llama, run_recipe, write_jsonl
from curate.errors import ConfigError

PASSAGE = "Maria parked her green car next to the old mill and walked down to the river at noon."


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-context"), seed=2)


def test_the_layout_finds_user_text_and_each_reply_from_the_template_alone():
    """No hard-coded token ids: the user tokens decode to exactly the users' texts, each turn's
    span to exactly its reply, for a multi-turn conversation with a system prompt."""
    from curate.models.attention_probe import layout
    from curate.models.lm import load_tokenizer
    tok = load_tokenizer("bundled:smollm2-135m-instruct")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "Green."}, {"role": "user", "content": f"{PASSAGE}\n\nWhere?"},
                {"role": "assistant", "content": "Next to the old mill."}]
    item = layout(tok, messages)
    user_ids = [t for t, u in zip(item.ids, item.user) if u]
    assert tok.decode(user_ids) == "Name a colour." + f"{PASSAGE}\n\nWhere?"
    assert [tok.decode(item.ids[a:b]) for a, b in item.turns] == ["Green.", "Next to the old mill."]
    assert "Be brief" not in tok.decode(user_ids) and "user" not in tok.decode(user_ids)


def test_the_probe_score_equals_the_attention_read_off_a_full_forward_pass(tiny):
    """Hooks on one layer, an early stop and right padding give what output_attentions gives."""
    import torch
    from curate.models.attention_probe import layout, user_attention
    from curate.models.lm import load_model, load_tokenizer
    tok = load_tokenizer(tiny)
    model = load_model(tiny, "cpu", attention="eager")
    convs = [[{"role": "user", "content": f"{PASSAGE} What colour is the car?"}, {"role": "assistant", "content": "Green."}],
             [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there, how can I help today?"}]]
    items = [layout(tok, c) for c in convs]
    got = user_attention(model, tok.pad_token_id, items, [1])
    for item, scores in zip(items, got):
        with torch.inference_mode():
            att = model(input_ids=torch.tensor([item.ids]), output_attentions=True).attentions[1][0]   # (heads, T, T)
        user = torch.tensor(item.user, dtype=torch.float32)
        per_token = (att * user).sum(-1).amax(0).numpy()
        (a, b), = item.turns
        assert scores == [pytest.approx(float(per_token[a:b].mean()), abs=1e-5)]


def _stats(result, step: str) -> dict:
    return next(s for s in result.manifest["stages"] if s["step"] == step)["stats"]


def _records(n_context: int = 6, n_plain: int = 6) -> list[dict]:
    rows = [{"instruction": f"Question {k}: what did Maria park, and where?", "input": PASSAGE,
             "output": "Her green car, next to the old mill."} for k in range(n_context)]
    rows += [{"instruction": f"Write line {k} of a poem about the sea.", "output": "The grey sea sings of salt and stone."}
             for k in range(n_plain)]
    return rows + [{"instruction": "", "input": "", "output": "orphan reply"}]


def test_tagging_marks_the_top_fraction_and_counts_what_it_could_not_score(tiny, tmp_path):
    write_jsonl(tmp_path / "d.jsonl", _records())
    steps = [{"use": "tag.context_dependency", "with": {"model": tiny, "top_fraction": 0.25}},
             {"use": "mark.context_indicator"}]
    result = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}], steps)
    final = result.final()
    assert final.height == 13                                                   # never rejects
    scored = final.filter(pl.col("score_context_attention").is_not_null())
    assert scored.height == 12 and final.filter(pl.col("tag_context_dependent")).height == 3
    orphan = final.filter(pl.col("response") == "orphan reply")
    assert orphan["score_context_attention"][0] is None and orphan["tag_context_dependent"][0] is None
    cutoff = scored.filter(pl.col("tag_context_dependent"))["score_context_attention"].min()
    assert (scored.filter(~pl.col("tag_context_dependent"))["score_context_attention"] < cutoff).all()
    stats = _stats(result, "tag.context_dependency")
    assert stats["unscored"] == {"no user text": 1} and stats["tagged"] == 3
    assert _stats(result, "mark.context_indicator") == {"marked": 3, "already_marked": 0}
    marked = final.filter(pl.col("tag_context_dependent"))
    for instruction, context in zip(marked["instruction"], marked["context"]):
        assert (context or instruction).endswith(" [IND]") and not (context or "").endswith("[IND] [IND]")
    assert not final.filter(~pl.col("tag_context_dependent").fill_null(False))["instruction"].str.contains(
        r"\[IND\]", literal=False).any()


def test_loss_gain_scores_only_records_with_a_context_and_says_so(tiny, tmp_path):
    write_jsonl(tmp_path / "d.jsonl", _records(3, 4))
    steps = [{"use": "tag.context_dependency", "with": {"model": tiny, "method": "loss_gain", "threshold": 0.0}}]
    result = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}], steps)
    final = result.final()
    with_context = final.filter(pl.col("context").fill_null("") != "")
    assert with_context["score_context_loss_gain"].null_count() == 0 and with_context.height == 3
    assert final.filter(pl.col("context").fill_null("") == "")["score_context_loss_gain"].null_count() == 5
    assert _stats(result, "tag.context_dependency")["unscored"] == {"no context field": 5}


def test_a_context_longer_than_the_window_is_cut_in_the_middle_and_counted(tiny, tmp_path):
    long = "Start of the passage. " + "filler words here " * 400 + "The answer is seven."
    write_jsonl(tmp_path / "d.jsonl", [{"instruction": "What is the answer?", "input": long, "output": "Seven."},
                                       {"instruction": "Say hi.", "output": "Hi."}])
    steps = [{"use": "tag.context_dependency", "with": {"model": tiny, "max_tokens": 256}}]
    result = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}], steps)
    assert result.final()["score_context_attention"].null_count() == 0
    assert _stats(result, "tag.context_dependency")["cut_to_window"] == 1


def test_an_indicator_already_in_the_data_is_not_doubled(tmp_path):
    from curate.steps.mark.context_indicator import with_indicator
    assert with_indicator("Q?", "passage", " [IND]") == ("Q?", "passage [IND]", True)
    assert with_indicator("Q? [IND]", None, " [IND]") == ("Q? [IND]", None, False)
    assert with_indicator("Q?", None, " [IND]") == ("Q? [IND]", None, True)


def test_a_suite_built_on_a_built_in_adds_the_indicator_where_training_put_it(tiny, tmp_path):
    from curate.evals.run import evaluate
    from curate.evals.suites import load_suite
    write_jsonl(tmp_path / "qa.jsonl", [{"instruction": "What did Maria park?", "input": PASSAGE, "output": "a car"},
                                        {"instruction": "Say yes.", "output": "yes"}])
    (tmp_path / "plain.yaml").write_text("inputs: [{path: qa.jsonl}]\nscorer: contains\nmax_new_tokens: 4\n"
                                         "group_by: null\n")
    (tmp_path / "ind.yaml").write_text("inputs: [{path: qa.jsonl}]\nscorer: contains\nmax_new_tokens: 4\n"
                                       "group_by: null\nindicator: ' [IND]'\n")
    evaluate(tiny, str(tmp_path / "ind.yaml"), tmp_path / "e")
    prompts = pl.read_parquet(tmp_path / "e" / "predictions.parquet")["prompt"].to_list()
    assert prompts == [f"What did Maria park?\n\n{PASSAGE} [IND]", "Say yes. [IND]"]
    (tmp_path / "b.yaml").write_text("base: xquad-contains\nindicator: ' [IND]'\n")
    try:
        spec = load_suite(str(tmp_path / "b.yaml"))
    except ConfigError as exc:                           # no data folder here: the built-in says so
        assert "data" in str(exc)
    else:
        assert spec.scorer == "contains" and spec.indicator == " [IND]" and spec.inputs[0]["path"].endswith("xquad.en.json")


def test_contains_scorer():
    from curate.evals.scorers import contains
    assert contains("It was a green car, I think.", ["green car"]) == 1.0
    assert contains("It was blue.", ["green car", "green"]) == 0.0
    assert contains("anything", [""]) == 0.0
    assert np.isclose(contains("GREEN", ["green"]), 1.0)


def test_a_special_token_indicator_is_added_trained_and_loaded_back_for_eval(tiny, tmp_path):
    """special_token: true -> `curate train` on the run adds "[IND]" as one token, trains its
    embedding row (it moves; the rest of the embedding does not), and the eval loads the adapter
    with that tokenizer."""
    import torch
    from curate.models.lm import load_for_eval, load_model
    from curate.train.config import TrainConfig
    from curate.train.loop import Trainer
    write_jsonl(tmp_path / "d.jsonl", _records())
    steps = [{"use": "tag.context_dependency", "with": {"model": tiny, "top_fraction": 0.5}},
             {"use": "mark.context_indicator", "with": {"special_token": True}}]
    run = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}], steps)
    summary = Trainer(TrainConfig(data=str(run.dir), model=tiny, out=str(tmp_path / "t"), max_len=64, lr=1e-2),
                      progress=False).run()
    assert summary["added_tokens"] == ["[IND]"] and summary["loss_computed_at"] == "supervised positions"
    model, tok = load_for_eval(tiny, str(tmp_path / "t" / "adapter"), "cpu")
    ind = tok.convert_tokens_to_ids("[IND]")
    assert tok("Where? [IND]", add_special_tokens=False)["input_ids"][-1] == ind
    base = load_model(tiny, "cpu").get_input_embeddings().weight
    with torch.no_grad():
        tuned = model.get_input_embeddings()(torch.tensor([[0, ind]]))[0]
    assert ind == base.shape[0]                                          # a new row
    assert torch.allclose(tuned[0], base[0])                             # old rows untouched
    pieces = load_model(tiny, "cpu").get_input_embeddings().weight[
        torch.tensor(load_for_eval(tiny, None, "cpu")[1]("[IND]", add_special_tokens=False)["input_ids"])].mean(0)
    assert not torch.allclose(tuned[1], pieces, atol=1e-4)             # trained away from its starting point


def test_a_probe_without_a_chat_template_needs_a_template_file(tiny, tmp_path):
    """A base model has no chat template: a clear error, and `template:` (a Jinja file) fixes it."""
    import json
    import shutil
    bare = tmp_path / "bare"
    shutil.copytree(tiny, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((bare / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(config))
    write_jsonl(tmp_path / "d.jsonl", _records(2, 2))
    inputs = [{"path": str(tmp_path / "d.jsonl")}]
    with pytest.raises(ConfigError, match="no chat template.*template:"):
        run_recipe(tmp_path / "a", inputs, [{"use": "tag.context_dependency", "with": {"model": str(bare)}}])
    (tmp_path / "plain.jinja").write_text("{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n"
                                          "{% endfor %}")
    steps = [{"use": "tag.context_dependency", "with": {"model": str(bare), "template": str(tmp_path / "plain.jinja")}}]
    final = run_recipe(tmp_path / "b", inputs, steps).final()
    assert final["score_context_attention"].null_count() == 1                  # only the record with no user text
