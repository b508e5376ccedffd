"""What the embedding steps share: which text to embed, with which model, and getting the vectors
for a whole dataset (from a `curate embed` file when given, the embedder for the rest)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import polars as pl
from pydantic import Field

from ...models.bundled import MINILM
from ..base import StepConfig
from .text import field_text


class EmbeddingConfig(StepConfig):
    field: str = Field("text", description="text to embed: a column, or `text` for all text")
    model: str = Field(MINILM, description="sentence-transformers model: Hub id, local folder, or the bundled default")
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda")
    backend: str = Field("auto", description="auto, fp32, bf16, int8, ov-bf16, ov-fp32 (CPU), fp16 (CUDA)")
    embeddings: Optional[str] = Field(None, description="Parquet from `curate embed` (id, embedding) to reuse")


MODEL_KEY, IDENTITY_KEY = "curate.embedding_model", "curate.embedding_identity"   # in `curate embed` files


def check_same_model(source, cfg: EmbeddingConfig) -> None:
    """Vectors from two models live in different spaces: an `embeddings` file made with another
    model than the step's is refused (files without the note, from older versions, are trusted)."""
    import pyarrow.parquet as pq
    from ...errors import ConfigError
    from ...models.embed import model_identity, resolve_model
    meta = pq.read_metadata(source).metadata or {}
    made = meta.get(IDENTITY_KEY.encode())
    if made is None:
        return
    if made.decode() != model_identity(*resolve_model(cfg.model)):
        name = meta.get(MODEL_KEY.encode(), b"another model").decode()
        raise ConfigError(f"embeddings {source}: made with {name}, but this step embeds with {cfg.model}; vectors "
                          "of two models cannot be mixed: embed again with the step's model, or set its model")


def make_embedder(cfg: EmbeddingConfig):
    from ...models.embed import Embedder
    return Embedder(cfg.model, cfg.device, cfg.backend)


def embedded_texts(frame: pl.DataFrame, cfg: EmbeddingConfig) -> list[str]:
    """What is embedded for each row of `frame`."""
    return frame.select(field_text(cfg.field).fill_null("")).to_series().to_list()


def embed_frame(frame: pl.DataFrame, cfg: EmbeddingConfig, embedder=None,
                base_dir: str | None = None, remember: bool = True) -> tuple[np.ndarray, dict]:
    """Vectors for the rows of `frame` (needs `id` and the text columns), in row order. A relative
    `embeddings` file is found in the working directory, then in `base_dir` (the recipe's folder).
    `remember=False`: see `Embedder.encode`."""
    texts = embedded_texts(frame, cfg)
    vectors = None
    stats: dict = {}
    todo = list(range(len(texts)))
    if cfg.embeddings:
        from ..base import resolve_step_file
        source = resolve_step_file(cfg.embeddings, base_dir, "embeddings")[0]
        check_same_model(source, cfg)
        given = pl.scan_parquet(source).select("id", "embedding").filter(     # only this frame's records:
            pl.col("id").is_in(frame["id"].unique().implode())).collect()     # a chunk reads what it needs
        lookup = dict(zip(given["id"].to_list(), range(given.height)))
        matrix = vector_matrix(given["embedding"]) if given.height else None
        rows = [lookup.get(i) for i in frame["id"].to_list()]
        todo = [k for k, r in enumerate(rows) if r is None]
        if matrix is not None:
            vectors = np.zeros((len(texts), matrix.shape[1]), dtype=np.float32)
            hit = [k for k, r in enumerate(rows) if r is not None]
            vectors[hit] = matrix[[rows[k] for k in hit]]
        stats["embeddings_reused"] = len(texts) - len(todo)
    if todo:
        embedder = embedder or make_embedder(cfg)
        before = embedder.stats_dict()               # an embedder kept across calls counts them all
        computed = embedder.encode([texts[k] for k in todo], remember=remember)
        if vectors is None:
            vectors = np.zeros((len(texts), computed.shape[1]), dtype=np.float32)
        vectors[todo] = computed
        stats.update({f"embed_{k}": v - before[k] if isinstance(v, (int, float)) else v
                      for k, v in embedder.stats_dict().items()})
    if vectors is None:
        vectors = np.zeros((0, 1), dtype=np.float32)
    return vectors, stats


def embedding_columns(data: pl.LazyFrame, cfg: EmbeddingConfig, extra: list[str] = ()) -> pl.LazyFrame:
    """The columns a dataset-scope embedding step needs from the stage's lazy scan (with the input
    order column, where the scan has one)."""
    wanted = {"_order", "id", "origin", "instruction", "context", "response", "history", *extra}
    if cfg.field not in ("text", "history"):
        wanted.add(cfg.field)
    names = data.collect_schema().names()
    return data.select([c for c in names if c in wanted])


def collect_for_embedding(data: pl.LazyFrame, cfg: EmbeddingConfig, extra: list[str] = ()) -> pl.DataFrame:
    """`embedding_columns`, read once."""
    return embedding_columns(data, cfg, extra).collect()


def vector_matrix(column: pl.Series) -> np.ndarray:
    """A list or array column of vectors as an (n, d) float32 matrix."""
    if isinstance(column.dtype, pl.List):
        dim = len(column[0])
        column = column.cast(pl.Array(pl.Float32, dim))
    return np.ascontiguousarray(column.to_numpy(), dtype=np.float32)
