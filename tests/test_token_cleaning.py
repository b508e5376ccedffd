"""Token cleaning: per-token loss masks from a base and a reference model (issue: token cleaning)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import make_tiny_llama, run_recipe, write_jsonl


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("token-clean")
    return make_tiny_llama(root / "base", seed=3), make_tiny_llama(root / "ref", seed=4)


def _records(n: int = 8) -> list[dict]:
    rows = [{"instruction": f"Describe item {k} in one sentence.", "output": f"Item {k} is small, round and blue."}
            for k in range(n)]
    return rows + [{"instruction": "Nothing to say?", "output": ""}]


def _stats(result) -> dict:
    return next(s for s in result.manifest["stages"] if s["step"] == "score.token_quality")["stats"]


def test_the_mask_keeps_the_tokens_the_reference_improves_most_and_lines_up_with_the_trainer(models, tmp_path):
    from curate.models.lm import load_model, load_tokenizer
    from curate.models.loglik import continuation_logprobs
    from curate.steps.score.token_quality import _response_tokens
    from curate.train.examples import encode
    base, ref = models
    write_jsonl(tmp_path / "d.jsonl", _records())
    steps = [{"use": "score.token_quality", "with": {"model": base, "reference": ref, "keep": 0.5,
                                                     "scope": "per_record", "dtype": "fp32"}}]
    result = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}], steps)
    final = result.final()
    assert final.height == 9 and _stats(result)["unscored"] == {"empty response": 1}
    tok = load_tokenizer(base)
    record = final.filter(pl.col("response") != "").row(0, named=True)
    (prompt, answer), = _response_tokens(tok, [record])[0].values()
    lp = {m: continuation_logprobs(load_model(m), tok.pad_token_id, [(prompt, answer)])[0] for m in models}
    score = (lp[ref] - lp[base]).astype(np.float64)
    score[0] = 0.0
    mask = np.array(record["loss_mask"], dtype=bool)
    assert len(mask) == len(answer) and mask.sum() == round(len(answer) * 0.5)
    assert score[mask].min() >= score[~mask].max() - 1e-4               # the kept ones score highest
    full = encode(tok, {**record, "loss_mask": None}, 256)
    masked = encode(tok, record, 256)                                    # the trainer accepts the mask
    assert sum(t != -100 for t in full.labels) - sum(t != -100 for t in masked.labels) == int((~mask).sum())
    assert record["score_token_kept"] == pytest.approx(mask.mean())


def test_packed_scoring_gives_the_padded_batches_log_probabilities(models, monkeypatch):
    """Packed rows (several sequences per row, rows in batches, the head in chunks) score every
    continuation token as the padded batches of the eval do; bf16 autocast stays close."""
    import curate.models.packed_scoring as ps
    from curate.models.lm import load_model, load_tokenizer
    from curate.models.loglik import continuation_logprobs
    tok = load_tokenizer(models[0])
    model = load_model(models[0])
    pairs = [(tok(f"Question {k}: " + "why " * k)["input_ids"], tok(" because " * (k % 5 + 1))["input_ids"])
             for k in range(1, 14)]
    padded = continuation_logprobs(model, tok.pad_token_id, pairs)
    monkeypatch.setattr(ps, "CHUNK_ELEMENTS", 5 * model.get_output_embeddings().weight.shape[0])
    packed = ps.packed_continuation_logprobs(model, pairs, row_tokens=40, rows_per_batch=2)
    assert [len(p) for p in packed] == [len(c) for _, c in pairs]
    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(packed, padded))
    low = ps.packed_continuation_logprobs(model, pairs, dtype="bf16")
    assert all(np.allclose(a, b, atol=0.1) for a, b in zip(low, padded))
    with pytest.raises(ValueError, match="prompt"):
        ps.packed_continuation_logprobs(model, [([], [1, 2])])


def test_global_scope_keeps_the_share_over_the_whole_dataset_and_random_is_the_control(models, tmp_path):
    base, ref = models
    write_jsonl(tmp_path / "d.jsonl", _records())
    inputs = [{"path": str(tmp_path / "d.jsonl")}]
    scored = run_recipe(tmp_path / "a", inputs, [{"use": "score.token_quality", "with": {"model": base, "reference": ref}}])
    stats = _stats(scored)
    assert stats["tokens_kept"] == round(stats["response_tokens"] * 0.6)
    shares = scored.final()["score_token_kept"].drop_nulls()
    assert shares.n_unique() > 1 or stats["records_masked"] == 1       # global: records keep different shares
    random = [run_recipe(tmp_path / name, inputs, [{"use": "score.token_quality", "with": {"model": base,
                                                                                           "mode": "random"}}])
              for name in ("r1", "r2")]
    assert random[0].final()["loss_mask"].to_list() == random[1].final()["loss_mask"].to_list()   # seeded
    assert _stats(random[0])["tokens_kept"] == stats["tokens_kept"]


def test_a_masked_run_trains(models, tmp_path):
    from curate.train.config import TrainConfig
    from curate.train.loop import Trainer
    base, ref = models
    write_jsonl(tmp_path / "d.jsonl", _records())
    run = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}],
                     [{"use": "score.token_quality", "with": {"model": base, "reference": ref}}])
    summary = Trainer(TrainConfig(data=str(run.dir), model=base, out=str(tmp_path / "t"), max_len=64),
                      progress=False).run()
    assert summary["examples"] == 8 and summary["skipped"] == {"empty response": 1}


def test_reference_mode_needs_one_reference(tmp_path):
    from curate.errors import ConfigError
    from curate.recipe import Recipe
    (tmp_path / "r.yaml").write_text("name: t\ninputs: [{path: d.jsonl}]\nsteps:\n  - use: score.token_quality\n"
                                     "    with: {keep: 0.5}\n")
    with pytest.raises(ConfigError, match=r"r.yaml:5.*exactly one of `reference`, `reference_adapter` and `warmup`"):
        Recipe.load(tmp_path / "r.yaml")


def test_ifd_is_low_when_the_instruction_determines_the_response(tmp_path):
    """The bundled SmolLM2: a question and its answer score lower IFD than the same answer after an
    unrelated instruction; a record without a response is counted, not scored."""
    write_jsonl(tmp_path / "d.jsonl", [
        {"instruction": "What is the capital of France?", "output": "The capital of France is Paris."},
        {"instruction": "Write a short poem about the sea.", "output": "The capital of France is Paris."},
        {"instruction": "Say nothing.", "output": ""}])
    result = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}], [{"use": "score.ifd"}])
    ifd = result.final()["score_ifd"].to_list()
    assert ifd[2] is None and ifd[0] < ifd[1]
    loss = result.final()["score_response_loss"].to_list()            # the perplexity filter's score
    assert loss[2] is None and loss[0] < loss[1]                      # the answer is likelier after its question
    stats = next(s for s in result.manifest["stages"] if s["step"] == "score.ifd")["stats"]
    assert stats["scored"] == 2 and stats["unscored"] == {"empty response": 1}


def test_a_mask_made_for_other_tokens_is_an_error_naming_the_record(models, tmp_path):
    from curate.errors import ConfigError
    from curate.train.config import TrainConfig
    from curate.train.loop import Trainer
    base, _ = models
    write_jsonl(tmp_path / "d.jsonl", [{"instruction": "Say hi.", "output": "Hi there, friend."}])
    run = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}])
    frame = pl.read_parquet(run.dir / "final.parquet")
    frame.with_columns(pl.Series("loss_mask", [[1, 0]], dtype=pl.List(pl.Int8))).write_parquet(run.dir / "final.parquet")
    cfg = TrainConfig(data=str(run.dir), model=base, out=str(tmp_path / "t"), max_len=64)
    record = frame["id"][0]
    with pytest.raises(ConfigError, match=rf"record {record}: loss_mask has 2 entries, the response has \d+ tokens"):
        Trainer(cfg, progress=False).run()


def test_a_response_longer_than_the_window_is_left_unscored_and_counted(models, tmp_path):
    base, ref = models
    rows = _records(3) + [{"instruction": "Tell a long story.", "output": "and then " * 40}]
    write_jsonl(tmp_path / "d.jsonl", rows)
    step = {"use": "score.token_quality", "with": {"model": base, "reference": ref, "max_tokens": 32}}
    result = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}], [step])
    final = result.final()
    story = final.filter(pl.col("instruction") == "Tell a long story.")
    assert final.height == 5 and story["loss_mask"].to_list() == [None]           # trains whole
    assert _stats(result)["unscored"]["response of max_tokens (32) tokens or more"] == 1
    assert final.filter(pl.col("response").str.starts_with("Item"))["loss_mask"].null_count() == 0


def test_a_record_left_with_no_kept_token_goes_to_the_ledger_or_trains_whole(models, tmp_path):
    """Global scope at a low share leaves some records with nothing: `empty: drop` ledgers them
    (rows in = kept + rejected), `keep_whole` trains them without a mask."""
    base, ref = models
    write_jsonl(tmp_path / "d.jsonl", _records())
    inputs = [{"path": str(tmp_path / "d.jsonl")}]
    step = {"use": "score.token_quality", "with": {"model": base, "reference": ref, "keep": 0.05}}
    dropped = run_recipe(tmp_path / "a", inputs, [step])
    gone = _stats(dropped)["no_tokens_kept"]["records"]
    assert gone > 0
    rejected = pl.read_parquet(dropped.dir / "rejected.parquet")
    assert rejected.height == gone and set(rejected["reason"]) == {"no_tokens_kept"}
    assert dropped.final().height + gone == 9
    whole = run_recipe(tmp_path / "b", inputs, [{**step, "with": {**step["with"], "empty": "keep_whole"}}]).final()
    assert whole.height == 9 and whole["loss_mask"].null_count() == gone + 1        # + the empty response


def test_a_reference_with_another_tokenizer_is_refused(models, tmp_path):
    from transformers import AutoTokenizer
    from curate.errors import ConfigError
    base, ref = models
    other = tmp_path / "other"
    import shutil
    shutil.copytree(ref, other)
    tok = AutoTokenizer.from_pretrained(other)
    tok.add_tokens(["<extra_token_for_the_test>"])
    tok.save_pretrained(other)
    write_jsonl(tmp_path / "d.jsonl", _records(2))
    with pytest.raises(ConfigError, match="has another tokenizer than"):
        run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}],
                   [{"use": "score.token_quality", "with": {"model": base, "reference": str(other)}}])


def test_a_warm_up_reference_is_trained_in_the_step_and_cached(models, tmp_path, monkeypatch):
    import curate.train.loop as loop
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    base, _ = models
    write_jsonl(tmp_path / "d.jsonl", _records())
    write_jsonl(tmp_path / "good.jsonl", [{"instruction": f"Describe item {k}.", "output": f"Item {k} is blue."}
                                          for k in range(6)])
    runs = []
    real = loop.Trainer.run
    monkeypatch.setattr(loop.Trainer, "run", lambda self: runs.append(self.cfg.data) or real(self))
    step = [{"use": "score.token_quality", "with": {"model": base, "warmup": {"data": str(tmp_path / "good.jsonl"),
                                                                            "lr": 0.01, "max_len": 64}}}]
    first = run_recipe(tmp_path / "a", [{"path": str(tmp_path / "d.jsonl")}], step)
    assert runs == [str(tmp_path / "good.jsonl")] and first.final()["loss_mask"].drop_nulls().len() == 8
    adapter = _stats(first)["warmup_adapter"]
    assert (tmp_path / "cache") in Path(adapter).parents
    again = run_recipe(tmp_path / "b", [{"path": str(tmp_path / "d.jsonl")}], step)
    assert len(runs) == 1 and again.final()["loss_mask"].to_list() == first.final()["loss_mask"].to_list()


def test_self_evolving_rounds_train_each_part_in_turn_from_the_last(models, tmp_path, monkeypatch):
    """rounds: 3 — part 0 keeps every token and trains round 1; part 1 is scored against round 1's
    model and continues it; part 2 is scored against round 2's."""
    import curate.train.loop as loop
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    base, _ = models
    write_jsonl(tmp_path / "d.jsonl", _records(9)[:9])
    runs = []
    real = loop.Trainer.run
    monkeypatch.setattr(loop.Trainer, "run", lambda self: runs.append(self.cfg.init_adapter) or real(self))
    step = [{"use": "score.token_quality", "with": {"model": base, "rounds": 3, "keep": 0.5, "round_lr": 0.01}}]
    result = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}], step)
    stats = _stats(result)
    assert stats["round_records"] == [3, 3, 3] and len(stats["round_adapters"]) == 2
    assert runs[0] is None and runs[1] == stats["round_adapters"][0]          # round 2 continues round 1
    final = result.final().sort("_order") if "_order" in result.final().columns else result.final()
    shares = final["score_token_kept"].to_list()
    assert shares[:3] == [1.0, 1.0, 1.0] and all(s is not None and s < 1.0 for s in shares[3:])


def test_the_kept_token_table_and_highlighted_sample_show_what_the_mask_dropped(models, tmp_path):
    from curate.explore.token_masks import format_table, highlighted, kept_tokens
    from curate.models.lm import load_tokenizer
    base, ref = models
    write_jsonl(tmp_path / "d.jsonl", _records())
    run = run_recipe(tmp_path, [{"path": str(tmp_path / "d.jsonl")}],
                     [{"use": "score.token_quality", "with": {"model": base, "reference": ref}}])
    table = kept_tokens(run.dir, base, min_count=5, top=3)
    assert table["kept_share"].is_between(0, 1).all() and (table["count"] >= 5).all()
    assert table["kept_share"].to_list() == sorted(table["kept_share"].to_list(), reverse=True)
    assert "kept" in format_table(table).splitlines()[0]
    tok = load_tokenizer(base)
    record = run.final().drop_nulls("loss_mask").row(0, named=True)
    page = highlighted(record["response"], record["loss_mask"], tok)
    assert page.count("<s ") == record["loss_mask"].count(0)
