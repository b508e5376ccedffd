"""Fast tokenizers for counting tokens, from a Hub id, a local folder, or the bundled SmolLM2.

The bundled tokenizer is converted from the GGUF file once (transformers + gguf) and cached as
tokenizer.json; later loads use the `tokenizers` library alone, which is fast and light.
"""

from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path

from .bundled import SMOLLM2, SMOLLM2_GGUF, smollm2_dir
from .chat_template import mark_folder
from ..user_cache import cache_dir


def bundled_tokenizer_dir() -> Path:
    """The bundled SmolLM2 tokenizer as a transformers tokenizer folder, converted from GGUF once."""
    target = cache_dir() / "tokenizers" / "smollm2-135m-instruct"
    if not (target / "tokenizer.json").is_file():
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(str(smollm2_dir()), gguf_file=SMOLLM2_GGUF)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        tok.save_pretrained(str(tmp))
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    mark_folder(target)            # also for folders written before the markers existed
    return target


@lru_cache(maxsize=8)
def load_tokenizer(name: str):
    from tokenizers import Tokenizer
    if name == SMOLLM2:
        return Tokenizer.from_file(str(bundled_tokenizer_dir() / "tokenizer.json"))
    local = Path(name)
    if local.is_dir() and (local / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(local / "tokenizer.json"))
    if local.is_file():
        return Tokenizer.from_file(str(local))
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(name).backend_tokenizer
