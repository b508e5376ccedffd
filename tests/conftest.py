"""Shared helpers: write small input files, run recipes in-process, call the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.recipe import Recipe
from curate.runner import RunResult, Runner

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def alpaca(i: int, **extra) -> dict:
    return {"instruction": f"Question number {i}: what is {i} plus {i}?", "input": "",
            "output": f"The answer is {2 * i}, because {i} + {i} = {2 * i}.", **extra}


def run_recipe(tmp_path: Path, inputs: list[dict], steps: list[dict] | None = None, **kw) -> RunResult:
    recipe = Recipe(name=kw.pop("name", "t"), inputs=inputs, steps=steps or [], **kw)
    return RunResult(Runner(recipe, tmp_path / "runs", progress=False).run())


def make_tiny_llama(folder: Path, seed: int = 0) -> str:
    """A 2-layer Llama with the SmolLM2 tokenizer and random weights, saved like any local model:
    fast enough for unit tests of training, generation and the local generator backend."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from curate.models.lm import load_tokenizer
    tokenizer = load_tokenizer("bundled:smollm2-135m-instruct")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    with torch.no_grad():      # the default init (std 0.02) gives every token almost the same logit
        model.model.embed_tokens.weight *= 10
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])
    return invoke


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    """Tests run from a temporary folder so relative paths and runs/ never touch the repo."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CURATE_CACHE", os.environ.get("CURATE_CACHE", str(Path.home() / ".cache" / "curate")))
    if SHARED.is_dir():                      # built-in eval suites read the data folder the setting names
        monkeypatch.setenv("CURATE_DATA", str(SHARED))
