"""Token cleaning: per-token loss masks from a base and a reference model (issue: token cleaning)."""

from __future__ import annotations

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
                                                     "scope": "per_record"}}]
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
    assert score[mask].min() >= score[~mask].max() - 1e-6               # the kept ones score highest
    full = encode(tok, {**record, "loss_mask": None}, 256)
    masked = encode(tok, record, 256)                                    # the trainer accepts the mask
    assert sum(t != -100 for t in full.labels) - sum(t != -100 for t in masked.labels) == int((~mask).sum())
    assert record["score_token_kept"] == pytest.approx(mask.mean())


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
    with pytest.raises(ConfigError, match=r"r.yaml:5.*exactly one of `reference` and `reference_adapter`"):
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
    stats = next(s for s in result.manifest["stages"] if s["step"] == "score.ifd")["stats"]
    assert stats["scored"] == 2 and stats["unscored"] == {"empty response": 1}
