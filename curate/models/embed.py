"""Sentence embeddings: any sentence-transformers model, fast on a 2-core CPU and on a GPU.

    from curate.models.embed import Embedder
    vectors = Embedder().encode(texts)      # (n, dim) float32, L2-normalized

What makes it fast, in order of effect:
- exact duplicate texts are embedded once, and an on-disk cache (model, backend, text hash) means a
  second run over the same texts computes nothing;
- texts are tokenized once, sorted by length and batched by a token budget, so batches carry
  almost no padding and are as large as the budget allows;
- the backend: on CUDA fp16; on CPU the fastest of fp32, torch bf16, dynamic int8 and (with
  openvino) the model exported once to OpenVINO in bf16 or fp32, chosen by timing them on this
  machine over the probe texts, among those that agree with fp32 (mean cosine >= 0.99). Both
  figures are measured once per model, device and CPU and recorded in the cache folder
  (`backends.json`), so the choice follows the machine the code runs on, not CPU flags: on an
  AVX2-only CPU without BF16, OpenVINO still beat torch fp32, which a flag-based rule skipped.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from .bundled import MINILM, minilm_dir
from ..user_cache import cache_dir
from . import openvino_backend
from .embed_cache import EmbeddingCache, text_key
from .machine import kept_measurement, machine_identity
from .probe_texts import PROBE_TEXTS

BACKENDS = ("fp32", "bf16", "int8", "fp16", "ov-bf16", "ov-fp32")
QUALITY_BAR = 0.99
PROBE_REPEAT = 4           # a backend is timed on the probe texts 4 times over, plus the long ones


def timing_texts() -> list[str]:
    """Short texts (the probe texts, ~60 characters) and long ones (five joined, ~300): the best
    backend for short batches is not always the best for long ones (on one CPU torch bf16 won on
    short texts and OpenVINO bf16 on long), so both count, as in real instruction data."""
    probes = list(PROBE_TEXTS)
    long = [" ".join(probes[i:i + 5]) for i in range(len(probes) - 4)]
    return probes * PROBE_REPEAT + long * PROBE_REPEAT


@dataclass
class EmbedStats:
    texts: int = 0
    unique: int = 0
    cached: int = 0
    computed: int = 0
    truncated: int = 0
    seconds: float = 0.0


def resolve_model(model: str) -> tuple[str, bool]:
    """(what SentenceTransformer loads, is_local). A path that does not exist is an error, not a Hub id."""
    if model == MINILM:
        return str(minilm_dir()), True
    path = Path(os.path.expanduser(model))
    if path.exists():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ConfigError(f"embedding model folder {path} has no modules.json or config.json")
        return str(path), True
    if model.startswith((".", "/", "~")) or model.count("/") > 1 or os.sep + os.sep in model:
        raise ConfigError(f"embedding model path does not exist: {model}")
    return model, False


def model_identity(location: str, local: bool) -> str:
    """A short hash of what defines the model: its files' contents (for large weight files, their
    size and first and last MiB), or the Hub id."""
    import hashlib
    h = hashlib.blake2b(digest_size=8)
    if not local:
        h.update(location.encode())
        return h.hexdigest()
    root = Path(location)
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        size = f.stat().st_size
        with open(f, "rb") as fh:
            if size <= 256 << 20:
                h.update(fh.read())
            else:
                h.update(str(size).encode() + fh.read(1 << 20))
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read())
    return h.hexdigest()


class Embedder:
    """Encode texts with a sentence-transformers model; see the module docstring for the speed-ups."""

    def __init__(self, model: str = MINILM, device: str = "auto", backend: str = "auto",
                 cache: bool = True, cache_folder: str | Path | None = None,
                 token_budget: int | None = None, progress: bool = False):
        self.model_name = model
        self.location, local = resolve_model(model)
        self.identity = model_identity(self.location, local)
        self.device = self._device(device)
        if backend != "auto" and backend not in BACKENDS:
            raise ConfigError(f"embedding backend '{backend}': choose auto, {', '.join(BACKENDS)}")
        if backend == "fp16" and self.device == "cpu":
            raise ConfigError("backend fp16 needs a CUDA device")
        if backend.startswith("ov-"):
            if self.device != "cpu":
                raise ConfigError(f"backend {backend} runs on the CPU; use device cpu")
            if not openvino_backend.available():
                raise ConfigError(f"backend {backend} needs the openvino package: pip install openvino")
        self.requested_backend = backend
        self.use_cache = cache
        self.cache_folder = Path(cache_folder) if cache_folder else cache_dir() / "embeddings"
        self.token_budget = token_budget or (131_072 if self.device.startswith("cuda") else 4_096)
        self.progress = progress
        self._model = None
        self._backend: str | None = None
        self._reference: np.ndarray | None = None      # fp32 probe vectors, while choosing a backend
        self.stats = EmbedStats()

    @staticmethod
    def _device(device: str) -> str:
        if device != "auto":
            return device
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"

    # -- model and backend ------------------------------------------------------------------
    def _load(self, backend: str):
        import torch
        from sentence_transformers import SentenceTransformer
        try:
            model = SentenceTransformer(self.location, device=self.device)
        except OSError as exc:
            raise ConfigError(f"cannot load embedding model '{self.model_name}': {str(exc).splitlines()[0]}") from None
        model.eval()
        if backend == "fp32":
            model = model.float()
        elif backend == "bf16":
            model = model.to(torch.bfloat16)
        elif backend == "fp16":
            model = model.half()
        elif backend == "int8":
            model = torch.ao.quantization.quantize_dynamic(model.float(), {torch.nn.Linear}, dtype=torch.qint8)
        elif backend in openvino_backend.PRECISIONS:
            model = openvino_backend.OpenVINOEncoder(model, backend, self.cache_folder / "openvino" / self.identity)
        return model

    @property
    def backend(self) -> str:
        if self._backend is None:
            self._backend = self._choose_backend()
        return self._backend

    def _choose_backend(self) -> str:
        if self.requested_backend != "auto":
            return self.requested_backend
        if self.device.startswith("cuda"):
            return "fp16"
        candidates = (["ov-bf16", "ov-fp32"] if openvino_backend.available() else []) + ["bf16", "int8", "fp32"]
        measured = {}
        for candidate in candidates:
            try:
                measured[candidate] = self.measure(candidate)
            except Exception as exc:  # noqa: BLE001 - an export the runtime cannot do: try the next backend
                if not candidate.startswith("ov-"):
                    raise
                import warnings
                warnings.warn(f"OpenVINO export of {self.model_name} failed ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200]}); using the torch backends")
        good = {b: m for b, m in measured.items() if m["cosine"] >= QUALITY_BAR}
        return max(good, key=lambda b: good[b]["texts_per_s"])

    def measure(self, backend: str) -> dict:
        """Mean cosine against fp32 and texts/s of `backend` on the probe texts, on this machine
        (measured once, then read from `backends.json`)."""
        key = f"{self.identity}:{self.device}:{machine_identity()}:{backend}"
        return kept_measurement(self.cache_folder / "backends.json", key, lambda: self._timed(backend))

    def _timed(self, backend: str) -> dict:
        texts = timing_texts()
        if self._reference is None:
            self._reference = self._forward_all(self._load("fp32"), list(PROBE_TEXTS))
        model = self._load(backend)
        got = self._forward_all(model, list(PROBE_TEXTS))          # also the warm-up
        seconds = []
        for _ in range(2):
            start = time.perf_counter()
            self._forward_all(model, texts)
            seconds.append(time.perf_counter() - start)
        return {"cosine": float(np.mean(np.sum(self._reference * got, axis=1))),
                "texts_per_s": round(len(texts) / min(seconds), 1)}

    @property
    def model(self):
        if self._model is None:
            self._model = self._load(self.backend)
        return self._model

    @property
    def dim(self) -> int:
        return _dimension(self.model)

    @property
    def max_length(self) -> int:
        return int(self.model.max_seq_length)

    # -- encoding ---------------------------------------------------------------------------
    def _tokenize(self, model, texts: list[str]):
        backend = model.tokenizer.backend_tokenizer
        backend.no_padding()
        backend.enable_truncation(int(model.max_seq_length))
        return backend.encode_batch(texts)

    def _batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        order = np.argsort(-lengths, kind="stable")
        batches, start = [], 0
        while start < len(order):
            longest = max(int(lengths[order[start]]), 1)
            size = max(1, self.token_budget // longest)
            batches.append(order[start:start + size])
            start += size
        return batches

    def _forward_all(self, model, texts: list[str], progress=None) -> np.ndarray:
        encodings = self._tokenize(model, texts)
        self.stats.truncated += sum(1 for e in encodings if e.overflowing)
        lengths = np.array([len(e.ids) for e in encodings])
        out = np.zeros((len(texts), _dimension(model)), dtype=np.float32)
        pad_id = model.tokenizer.pad_token_id or 0
        for idx in self._batches(lengths):
            width = int(lengths[idx].max())
            ids = np.full((len(idx), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = lengths[i]
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            out[idx] = self._embed_batch(model, ids, mask)
            if progress:
                progress(len(idx))
        return out

    def _embed_batch(self, model, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Unit vectors for one padded batch, from a torch SentenceTransformer or an OpenVINO encoder."""
        if isinstance(model, openvino_backend.OpenVINOEncoder):
            emb = model.embed(ids, mask)
            return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        import torch
        features = {"input_ids": torch.from_numpy(ids).to(self.device),
                    "attention_mask": torch.from_numpy(mask).to(self.device),
                    "token_type_ids": torch.zeros_like(torch.from_numpy(ids)).to(self.device)}
        with torch.inference_mode():
            emb = model(features)["sentence_embedding"].float()
            return torch.nn.functional.normalize(emb, dim=1).cpu().numpy()

    def _cache(self) -> EmbeddingCache | None:
        return EmbeddingCache(self.cache_folder, self.identity, f"{self.device.split(':')[0]}-{self.backend}") \
            if self.use_cache else None

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors computed by `encode(..., remember=False)` to the cache (texts already there
        keep their vectors)."""
        cache = self._cache()
        if cache is not None and len(texts):
            unique = dict(zip(texts, range(len(texts))))
            cache.put([text_key(t) for t in unique], vectors[list(unique.values())])

    def encode(self, texts: Sequence[str], remember: bool = True) -> np.ndarray:
        """Embed `texts` -> (n, dim) float32 unit vectors, in input order. With `remember=False`
        the cache is read but not added to: a text's vector depends on the other texts of its
        batch in its last bits (bf16: up to 1e-3), so a caller that embeds many chunks and needs
        each chunk's vectors to depend on that chunk and the cache as it was (not on which chunk
        ran first) adds them afterwards with `remember`."""
        start = time.perf_counter()
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise ConfigError(f"texts[{i}] is {type(t).__name__}, expected text")
        unique = list(dict.fromkeys(texts))
        keys = [text_key(t) for t in unique]
        vectors: dict[bytes, np.ndarray] = {}
        cache = self._cache()
        if cache is not None:
            vectors.update(cache.get(keys))
        todo = [i for i, k in enumerate(keys) if k not in vectors]
        if todo:
            with _progress(self.progress, len(todo)) as advance:
                computed = self._forward_all(self.model, [unique[i] for i in todo], advance)
            new_keys = [keys[i] for i in todo]
            vectors.update(zip(new_keys, computed))
            if cache is not None and remember:
                cache.put(new_keys, computed)
        dim = next(iter(vectors.values())).shape[0] if vectors else self.dim
        by_text = {t: vectors[k] for t, k in zip(unique, keys)}
        out = np.stack([by_text[t] for t in texts]) if texts else np.zeros((0, dim), dtype=np.float32)
        s = self.stats
        s.texts += len(texts)
        s.unique += len(unique)
        s.cached += len(unique) - len(todo)
        s.computed += len(todo)
        s.seconds += time.perf_counter() - start
        return out

    def stats_dict(self) -> dict:
        return {**asdict(self.stats), "backend": self.backend, "device": self.device}


def _dimension(model) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


class _progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total, self.bar = enabled, total, None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import Progress
        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task("embedding", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()
