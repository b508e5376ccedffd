"""Text generators for the compose steps' generator mode: `local` (transformers, batched, the
bundled SmolLM2 by default) and `openai` (any OpenAI-compatible chat endpoint: vLLM, llama.cpp
server, hosted APIs).

Both take chat conversations and return one `Completion` per conversation, in order: text, or an
error that the caller sends to the ledger. A failure of one prompt never stops the others. Every
successful answer is cached by prompt hash (`generation_cache`), so a rerun sends nothing.

The `openai` backend uses only the standard library (urllib) and a thread pool: requests are
I/O-bound, and the one thing it must do well is retry transient failures (timeouts, 429, 5xx) with
exponential backoff while giving up at once on errors a retry cannot fix (401, 404, bad request).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from .bundled import SMOLLM2
from ..user_cache import cache_dir
from .generation_cache import GenerationCache, prompt_key

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class GeneratorConfig(BaseModel):
    """How compose steps reach a model (the `generator:` block of a step's config)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "openai"] = Field("local", description="local transformers model or an "
                                                                      "OpenAI-compatible endpoint")
    model: str = Field(SMOLLM2, description="local: Hub id, folder or bundled model; openai: the served model name")
    base_url: Optional[str] = Field(None, description="openai: e.g. http://localhost:8000/v1 "
                                                      "(default: $OPENAI_BASE_URL)")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the API key")
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0, description="0 = greedy (the local backend is always greedy)")
    concurrency: int = Field(8, ge=1, description="openai: requests in flight")
    timeout_s: float = Field(60.0, gt=0, description="openai: per request")
    retries: int = Field(3, ge=0, description="openai: retries of a timed-out or 429/5xx request")
    backoff_s: float = Field(1.0, ge=0, description="openai: first retry delay, doubled each time")
    batch_size: int = Field(16, ge=1, description="local: prompts per batch")
    device: str = Field("auto", description="local: auto, cpu, cuda")
    cache: bool = Field(True, description="reuse answers to identical prompts from earlier runs")
    cache_path: Optional[str] = Field(None, description="default: <curate cache>/generations.sqlite")


@dataclass
class Completion:
    text: Optional[str] = None
    error: Optional[str] = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None

    def failure(self, stage: str, check=None) -> tuple[str, str] | None:
        """The ledger reason and detail when this answer cannot be used at `stage`: the call failed
        (`generator_error`), or `check(text)` names a problem (`generator_format`); else None."""
        if not self.ok:
            return "generator_error", f"{stage}: {self.error}"
        problem = check(self.text) if check else None
        return ("generator_format", f"{stage}: {problem}") if problem else None


class OpenAIBackend:
    def __init__(self, cfg: GeneratorConfig):
        self.cfg = cfg
        base = cfg.base_url or os.environ.get("OPENAI_BASE_URL")
        if not base:
            raise ConfigError("generator backend 'openai' needs base_url (or $OPENAI_BASE_URL), "
                             "e.g. http://localhost:8000/v1")
        self.url = base.rstrip("/") + "/chat/completions"
        self.calls = 0                     # HTTP requests sent, retries included
        self._lock = threading.Lock()

    @property
    def identity(self) -> dict:
        return {"backend": "openai", "url": self.url, "model": self.cfg.model,
                "max_tokens": self.cfg.max_new_tokens, "temperature": self.cfg.temperature}

    def _request(self, messages: list[dict]) -> Completion:
        cfg = self.cfg
        body = json.dumps({"model": cfg.model, "messages": messages, "max_tokens": cfg.max_new_tokens,
                           "temperature": cfg.temperature}).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        error = "no attempt"
        for attempt in range(cfg.retries + 1):
            if attempt:
                time.sleep(cfg.backoff_s * 2 ** (attempt - 1))
            with self._lock:
                self.calls += 1
            try:
                req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=cfg.timeout_s) as resp:
                    payload = resp.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:200].decode("utf-8", "replace")
                error = f"HTTP {exc.code}: {detail}"
                if exc.code in RETRYABLE_STATUS:
                    continue
                return Completion(error=error)
            except (TimeoutError, socket.timeout) as exc:
                error = f"timeout after {cfg.timeout_s:g}s ({exc})"
                continue
            except (urllib.error.URLError, ConnectionError, OSError) as exc:
                error = f"connection failed: {getattr(exc, 'reason', exc)}"
                continue
            try:
                text = json.loads(payload)["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                return Completion(error=f"malformed response: {payload[:200].decode('utf-8', 'replace')}")
            if not isinstance(text, str):
                return Completion(error="malformed response: content is not text")
            return Completion(text=text)
        return Completion(error=f"gave up after {cfg.retries + 1} attempts: {error}")

    def complete(self, conversations: list[list[dict]]) -> list[Completion]:
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            return list(pool.map(self._request, conversations))


class LocalBackend:
    def __init__(self, cfg: GeneratorConfig):
        self.cfg = cfg
        self.loaded = None
        self.calls = 0

    @property
    def identity(self) -> dict:
        return {"backend": "local", "model": self.cfg.model, "max_new_tokens": self.cfg.max_new_tokens,
                "decoding": "greedy"}

    def complete(self, conversations: list[list[dict]]) -> list[Completion]:
        from .greedy import generate
        from .lm import load_for_eval
        import torch
        if self.loaded is None:
            device = self.cfg.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self.loaded = load_for_eval(self.cfg.model, None, device)
        lm, tokenizer = self.loaded
        self.calls += len(conversations)
        try:
            texts = generate(lm, tokenizer, conversations, self.cfg.max_new_tokens, self.cfg.batch_size)
        except (RuntimeError, ValueError) as exc:
            return [Completion(error=f"local generation failed: {exc}") for _ in conversations]
        return [Completion(text=t) for t in texts]


class Generator:
    """A backend behind the prompt-hash cache. `complete` keeps input order."""

    def __init__(self, cfg: GeneratorConfig):
        self.cfg = cfg
        self.backend = OpenAIBackend(cfg) if cfg.backend == "openai" else LocalBackend(cfg)
        self.cache = (GenerationCache(cfg.cache_path or Path(cache_dir()) / "generations.sqlite")
                      if cfg.cache else None)

    def complete(self, conversations: list[list[dict]]) -> list[Completion]:
        keys = [prompt_key(self.backend.identity, c) for c in conversations]
        hits = self.cache.get_many(keys) if self.cache else {}
        todo = [i for i, k in enumerate(keys) if k not in hits]
        fresh = self.backend.complete([conversations[i] for i in todo]) if todo else []
        out = [Completion(text=hits[k], cached=True) if k in hits else None for k in keys]
        for i, completion in zip(todo, fresh):
            out[i] = completion
        if self.cache:
            self.cache.put_many({keys[i]: c.text for i, c in zip(todo, fresh) if c.ok})
        return out
