"""The LoRA trainer: a tiny randomly initialised Llama-style model for the mechanics, the bundled
SmolLM2 once for the real path (loads offline, generates, trains a step)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from curate.errors import ConfigError, CurateError
from curate.train.config import TrainConfig
from curate.train.examples import EncodeError, encode
from curate.train.loop import Trainer
from curate.train.supervised_loss import LossPath, full_logits_loss_sum, supervised_loss_sum
from curate.train.packing import collate, pack
from conftest import make_tiny_llama, write_jsonl

RECORD = {"instruction": "What is the capital of France?", "context": None, "response": "Paris is the capital.",
          "system": None, "history": None}


@pytest.fixture(scope="module")
def tokenizer():
    from curate.models.lm import load_tokenizer
    return load_tokenizer("bundled:smollm2-135m-instruct")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tokenizer):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), seed=0)


def qa_rows(n: int) -> list[dict]:
    colours = ["red", "blue", "green", "yellow"]
    return [{"instruction": f"What colour is item {i}?", "output": f"Item {i} is {colours[i % 4]}."} for i in range(n)]


def test_only_response_tokens_carry_loss(tokenizer):
    ex = encode(tokenizer, {**RECORD, "history": [{"role": "user", "content": "Hi"},
                                                  {"role": "assistant", "content": "Hello!"}]}, 512)
    supervised = tokenizer.decode([t for t in ex.labels if t != -100])
    assert supervised == "Hello!<|im_end|>\nParis is the capital.<|im_end|>\n"
    assert len(ex.ids) == len(ex.labels)


def test_loss_mask_is_respected(tokenizer):
    answer = tokenizer(RECORD["response"], add_special_tokens=False)["input_ids"]
    mask = [1] * len(answer)
    mask[0] = 0                                            # drop the first response token from the loss
    ex = encode(tokenizer, {**RECORD, "loss_mask": mask}, 512)
    full = encode(tokenizer, RECORD, 512)
    assert sum(t != -100 for t in full.labels) - sum(t != -100 for t in ex.labels) == 1
    assert answer[0] not in [t for t in ex.labels if t != -100][:1]
    with pytest.raises(EncodeError, match="loss_mask has 2 entries"):
        encode(tokenizer, {**RECORD, "loss_mask": [1, 0]}, 512)


@pytest.mark.parametrize("attention", ["sdpa", "curate_packed"])
def test_packing_keeps_examples_separate(tiny_model, tokenizer, attention):
    from curate.models.lm import load_model
    from curate.models.packed_attention import use_packed_attention
    model = load_model(tiny_model).eval()
    if attention == "curate_packed":
        assert use_packed_attention(model)
    a = encode(tokenizer, RECORD, 512)
    b = encode(tokenizer, {**RECORD, "instruction": "Name a large ocean.", "response": "The Pacific."}, 512)
    rows = pack([a, b], 512, seed=0)
    assert len(rows) == 1 and rows[0].examples == 2
    packed = collate(rows, tokenizer.pad_token_id)
    with torch.no_grad():
        joint = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits[0]
        first = rows[0].positions.index(0, 1)                 # where the second example starts
        order = (a, b) if rows[0].ids[:len(a.ids)] == a.ids else (b, a)
        for ex, start in zip(order, (0, first)):
            alone = model(input_ids=torch.tensor([ex.ids])).logits[0]
            assert torch.allclose(joint[start:start + len(ex.ids)], alone, atol=1e-4)


def test_packed_attention_gives_the_masked_attention_and_its_gradients(tiny_model, tokenizer):
    """One causal SDPA call per example (no mask) computes what transformers' block-diagonal mask
    computes: same logits, same LoRA gradients, rows with several examples and padded tails."""
    from curate.models.lm import load_model
    from curate.train.loop import _lora
    from curate.models.packed_attention import use_packed_attention
    records = [RECORD, {**RECORD, "instruction": "Name a colour.", "response": "Green, like grass."},
               {**RECORD, "instruction": "And another one, please?", "response": "Blue."},
               {**RECORD, "instruction": "Count to three.", "response": "One, two, three."}]
    batch = collate(pack([encode(tokenizer, r, 64) for r in records], 64, 0), tokenizer.pad_token_id)
    assert batch["input_ids"].shape[0] >= 2 and int((batch["position_ids"] == 0).sum()) > batch["input_ids"].shape[0]
    results = []
    for packed in (False, True):
        torch.manual_seed(0)
        model = _lora(load_model(tiny_model), TrainConfig(data="-", out="-", lora_dropout=0.0))
        if packed:
            assert use_packed_attention(model)
        loss, _ = full_logits_loss_sum(model, batch)
        out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        loss.backward()
        results.append((out.detach(), [p.grad for p in model.parameters() if p.requires_grad]))
    (masked, g_masked), (segmented, g_segmented) = results
    assert torch.allclose(segmented, masked, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(g_segmented, g_masked))


def test_packed_attention_leaves_sliding_window_models_to_transformers():
    """A sliding window lives in the mask that `curate_packed` does not build: such a model keeps
    transformers' masked attention."""
    from transformers import MistralConfig, MistralForCausalLM
    from curate.models.packed_attention import use_packed_attention
    small = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=1, attn_implementation="sdpa")
    windowed = MistralForCausalLM(MistralConfig(sliding_window=8, **small))
    assert not use_packed_attention(windowed) and windowed.config._attn_implementation == "sdpa"
    assert use_packed_attention(MistralForCausalLM(MistralConfig(sliding_window=None, **small)))


def test_loss_falls_and_run_writes_its_outputs(tiny_model, tmp_path):
    write_jsonl(tmp_path / "qa.jsonl", qa_rows(16))
    cfg = TrainConfig(data=str(tmp_path / "qa.jsonl"), model=tiny_model, out=str(tmp_path / "run"), epochs=20,
                      lr=1e-2, batch_size=2, max_len=64, warmup=0.0, lora_dropout=0.0, lora_r=32)
    summary = Trainer(cfg, progress=False).run()
    steps = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == summary["steps"] and summary["examples"] == 16
    first, last = sum(s["loss"] for s in steps[:3]) / 3, sum(s["loss"] for s in steps[-3:]) / 3
    assert last < 0.5 * first
    for name in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "train_config.json",
                 "summary.json", "loss.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert steps[-1]["lr"] < steps[len(steps) // 2]["lr"]      # cosine decay
    assert summary["loss_computed_at"] == "supervised positions"


def test_loss_at_supervised_positions_only_equals_the_full_logits_loss(tiny_model, tokenizer, monkeypatch):
    """Same loss and same LoRA gradients as projecting every position, in one piece and in
    recomputed chunks; a head that does more than the decoder's projection falls back."""
    import curate.train.supervised_loss as sl
    from curate.models.lm import load_model
    from curate.train.loop import _lora
    records = [RECORD, {**RECORD, "instruction": "Name a colour.", "response": "Green, like grass."},
               {**RECORD, "instruction": "And another one, please?", "response": "Blue."}]
    batch = collate(pack([encode(tokenizer, r, 64) for r in records], 40, 0), tokenizer.pad_token_id)
    assert batch["input_ids"].shape[0] >= 2                       # several rows, padded tails
    model = _lora(load_model(tiny_model), TrainConfig(data="-", out="-", lora_dropout=0.0))

    def grads(fn):
        model.zero_grad()
        loss, n = fn()
        loss.backward()
        return loss.detach(), n, [p.grad.clone() for p in model.parameters() if p.requires_grad]

    full = grads(lambda: full_logits_loss_sum(model, batch))
    parts = LossPath(model).parts
    assert parts is not None
    monkeypatch.setattr(sl, "CHUNK_ELEMENTS", 10**12)
    one = grads(lambda: supervised_loss_sum(model, batch, parts))
    monkeypatch.setattr(sl, "CHUNK_ELEMENTS", 7 * model.get_output_embeddings().weight.shape[0])   # 7 positions
    chunked = grads(lambda: supervised_loss_sum(model, batch, parts))
    for got in (one, chunked):
        assert got[1] == full[1] and torch.isclose(got[0], full[0], rtol=1e-5)
        assert all(float((a - b).abs().max()) <= 1e-5 * float(b.abs().max()) + 1e-8 for a, b in zip(got[2], full[2]))
    path = LossPath(model)
    decoder, head = path.parts
    path.parts = (decoder, lambda h: head(h) * 0.5)               # like a logit scale the forward applies
    loss, _ = path(batch)
    assert path.name == "full logits" and torch.isclose(loss, full[0], rtol=1e-5)


def test_token_budget_caps_the_run(tiny_model, tmp_path):
    write_jsonl(tmp_path / "qa.jsonl", qa_rows(40))
    cfg = TrainConfig(data=str(tmp_path / "qa.jsonl"), model=tiny_model, out=str(tmp_path / "b"), epochs=3,
                      max_tokens=500, max_len=64, batch_size=1)
    summary = Trainer(cfg, progress=False).run()
    assert summary["tokens"] == 500


def test_resume_from_checkpoint_continues_the_schedule(tiny_model, tmp_path, monkeypatch):
    from safetensors.torch import load_file
    write_jsonl(tmp_path / "qa.jsonl", qa_rows(12))
    common = dict(data=str(tmp_path / "qa.jsonl"), model=tiny_model, epochs=2, batch_size=2, max_len=48,
                  save_every=2, lr=1e-2)
    Trainer(TrainConfig(out=str(tmp_path / "straight"), **common), progress=False).run()
    original = Trainer._checkpoint

    def stop_after_first_checkpoint(self, *args):
        original(self, *args)
        raise KeyboardInterrupt
    monkeypatch.setattr(Trainer, "_checkpoint", stop_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        Trainer(TrainConfig(out=str(tmp_path / "resumed"), **common), progress=False).run()
    monkeypatch.setattr(Trainer, "_checkpoint", original)
    assert json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())["step"] == 2
    Trainer(TrainConfig(out=str(tmp_path / "resumed"), **common), progress=False).run()
    a = load_file(str(tmp_path / "straight" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    straight = [json.loads(line)["lr"] for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert lrs == straight


def test_a_run_killed_between_checkpoints_logs_each_step_once(tiny_model, tmp_path, monkeypatch):
    from curate.progress import Progress
    write_jsonl(tmp_path / "qa.jsonl", qa_rows(12))
    common = dict(data=str(tmp_path / "qa.jsonl"), model=tiny_model, epochs=2, batch_size=2, max_len=48,
                  save_every=2, lr=1e-2)
    Trainer(TrainConfig(out=str(tmp_path / "straight"), **common), progress=False).run()
    original, logged = Progress.advance, []

    def killed_after_step_3(self, task, n, description=None):
        original(self, task, n, description)
        logged.append(description)
        if len([d for d in logged if d]) == 3:          # step 3 is logged; its checkpoint was step 2
            raise KeyboardInterrupt
    monkeypatch.setattr(Progress, "advance", killed_after_step_3)
    with pytest.raises(KeyboardInterrupt):
        Trainer(TrainConfig(out=str(tmp_path / "resumed"), **common), progress=False).run()
    monkeypatch.setattr(Progress, "advance", original)
    Trainer(TrainConfig(out=str(tmp_path / "resumed"), **common), progress=False).run()
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    straight = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [s["step"] for s in straight]


def test_training_on_nothing_is_an_error(tiny_model, tmp_path, cli):
    write_jsonl(tmp_path / "blank.jsonl", [{"instruction": f"Q{i}?", "output": " "} for i in range(4)])
    cfg = TrainConfig(data=str(tmp_path / "blank.jsonl"), model=tiny_model, out=str(tmp_path / "e"), max_len=64)
    with pytest.raises(ConfigError, match="no record could be encoded .*empty response"):
        Trainer(cfg, progress=False).run()
    write_jsonl(tmp_path / "qa.jsonl", qa_rows(4))
    result = cli("train", tmp_path / "qa.jsonl", "--model", tiny_model, "--out", tmp_path / "one", "--max-tokens", "1")
    assert result.exit_code == 2 and "before the first response token" in result.output, result.output
    assert not (tmp_path / "one" / "adapter").exists()


def test_bad_training_input(tiny_model, tmp_path, monkeypatch):
    write_jsonl(tmp_path / "long.jsonl", [{"instruction": "Tell a story.", "output": "word " * 300},
                                          {"instruction": "Hi?", "output": "Hello."}])
    cfg = TrainConfig(data=str(tmp_path / "long.jsonl"), model=tiny_model, out=str(tmp_path / "d"), max_len=64,
                      over_length="drop")
    summary = Trainer(cfg, progress=False).run()
    assert summary["examples"] == 1 and summary["skipped"] == {"longer than max_len": 1}
    truncate = Trainer(cfg.model_copy(update={"over_length": "truncate", "out": str(tmp_path / "t")}), progress=False).run()
    assert truncate["examples"] == 2 and truncate["truncated"] == 1
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(CurateError, match="empty"):
        Trainer(cfg.model_copy(update={"data": str(tmp_path / "empty.jsonl")}), progress=False).run()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="bundled:smollm2-135m-instruct"):
        Trainer(cfg.model_copy(update={"model": "some-org/not-downloaded-model"}), progress=False).run()


def test_bundled_smollm2_loads_offline_generates_and_trains_a_step(tokenizer, tmp_path):
    from curate.models.lm import load_model
    model = load_model("bundled:smollm2-135m-instruct").eval()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert "4" in tokenizer.decode(out[0, prompt["input_ids"].shape[1]:])
    write_jsonl(tmp_path / "qa.jsonl", qa_rows(4))
    summary = Trainer(TrainConfig(data=str(tmp_path / "qa.jsonl"), out=str(tmp_path / "s"), max_len=64,
                                  batch_size=4), progress=False).run()
    assert summary["steps"] == 1 and summary["trainable_params"] > 0
    batch = collate(pack([encode(tokenizer, RECORD, 64)], 64, 0), tokenizer.pad_token_id)
    loss, n = full_logits_loss_sum(model, batch)
    fast, m = supervised_loss_sum(model, batch, LossPath(model).parts)
    assert m == n and torch.isclose(fast, loss, rtol=1e-4)
    assert n > 0 and torch.isfinite(loss)


def test_recipe_with_train_and_eval_blocks(tiny_model, tmp_path, cli):
    write_jsonl(tmp_path / "qa.jsonl", qa_rows(8))
    (tmp_path / "suite.yaml").write_text(f"inputs: [{{path: {tmp_path / 'qa.jsonl'}}}]\nscorer: exact_match\n"
                                         "max_new_tokens: 8\ngroup_by: null\n")
    (tmp_path / "r.yaml").write_text(f"name: te\ninputs: [{{path: qa.jsonl}}]\nsteps: [{{use: dedup.exact}}]\n"
                                     f"train: {{model: {tiny_model}, max_len: 64, epochs: 2}}\n"
                                     f"eval: {{suites: [{tmp_path / 'suite.yaml'}]}}\n")
    result = cli("run", tmp_path / "r.yaml", "-q")
    assert result.exit_code == 0, result.output
    run_dir = Path(result.output.strip().splitlines()[-1])
    trained = list(run_dir.glob("train-*/adapter/adapter_model.safetensors"))
    evals = list(run_dir.glob("eval-*/summary.json"))
    assert len(trained) == 1 and len(evals) == 1
    assert json.loads(evals[0].read_text())["adapter"] == str(trained[0].parent)
    again = cli("run", tmp_path / "r.yaml", "-q")                 # reuses training and eval
    assert again.exit_code == 0 and list(run_dir.glob("train-*")) == [trained[0].parent.parent]
    (tmp_path / "bad.yaml").write_text("name: b\ninputs: [{path: qa.jsonl}]\ntrain: {learning_rate: 1}\n")
    bad = cli("run", tmp_path / "bad.yaml")
    assert bad.exit_code == 2 and "bad.yaml:3" in bad.output and "train.learning_rate" in bad.output


def test_init_adapter_continues_training_from_an_adapter(tiny_model, tmp_path, cli):
    """Intermediate-task transfer: a second run starts where the first adapter ended, not from
    zero (its first loss is the first run's last), and a wrong folder is a clear error."""
    write_jsonl(tmp_path / "qa.jsonl", qa_rows(16))
    first = TrainConfig(data=str(tmp_path / "qa.jsonl"), model=tiny_model, out=str(tmp_path / "a"), epochs=10,
                        lr=1e-2, batch_size=2, max_len=64, warmup=0.0, lora_dropout=0.0, lora_r=8)
    Trainer(first, progress=False).run()
    result = cli("train", tmp_path / "qa.jsonl", "--out", tmp_path / "b", "--model", tiny_model, "--max-len", "64",
                 "--batch-size", "2", "--lr", "1e-2", "--init-adapter", tmp_path / "a" / "adapter", "-q")
    assert result.exit_code == 0, result.output
    Trainer(first.model_copy(update={"out": str(tmp_path / "c"), "epochs": 1.0}), progress=False).run()
    losses = {name: [json.loads(x)["loss"] for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
              for name in "abc"}
    assert losses["b"][0] < 0.7 * losses["c"][0]                  # it starts from what run a learned
    assert json.loads((tmp_path / "b" / "adapter" / "adapter_config.json").read_text())["r"] == 8   # a's rank
    bad = cli("train", tmp_path / "qa.jsonl", "--out", tmp_path / "d", "--model", tiny_model,
              "--init-adapter", tmp_path / "a", "-q")
    assert bad.exit_code != 0 and "not a LoRA adapter folder" in bad.output


def test_arms_that_share_records_train_on_them_in_the_same_order():
    """Common random numbers: removing records from a dataset leaves the order of the others as
    it was, so two arms cut at one token budget see the same records except where they differ."""
    from curate.train.examples import Example
    from curate.train.packing import order_of
    examples = [Example(ids=[1] * (5 + i % 7), labels=[1] * (5 + i % 7), key=f"src/{i}") for i in range(200)]
    fewer = [e for i, e in enumerate(examples) if i % 10 != 3]
    keys = [examples[i].key for i in order_of(examples, 3)]
    kept = {e.key for e in fewer}
    assert [fewer[i].key for i in order_of(fewer, 3)] == [k for k in keys if k in kept]
    assert keys != sorted(keys, key=lambda k: int(k.split("/")[1]))                   # shuffled
    assert keys != [examples[i].key for i in order_of(examples, 4)]                    # another seed, another order
    placed = [k for row in pack(fewer, 64, 3) for k in row.keys]
    assert sorted(placed) == sorted(kept)                                              # each record once
