"""`curate embed`: vectors for a run's final dataset or any readable data, as Parquet."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..io.load import load_records
from ..models.bundled import MINILM
from ..steps.common.embedding import IDENTITY_KEY, MODEL_KEY


def embed_to_parquet(data: str, out: Path, field: str = "text", model: str | None = None,
                     device: str = "auto", backend: str = "auto") -> Path:
    from ..steps.common.embedding import EmbeddingConfig, embed_frame
    from ..models.embed import Embedder
    records = load_records(data)
    cfg = EmbeddingConfig(field=field, model=model or MINILM, device=device, backend=backend)
    embedder = Embedder(cfg.model, cfg.device, cfg.backend, progress=True)
    vectors, _ = embed_frame(records, cfg, embedder)
    dim = vectors.shape[1]
    frame = records.select("id", "origin").with_columns(
        pl.Series("embedding", vectors, dtype=pl.Array(pl.Float32, dim)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    # which model made the vectors: a step reusing them with another model refuses to mix the two
    frame.write_parquet(tmp, metadata={MODEL_KEY: cfg.model, IDENTITY_KEY: embedder.identity})
    tmp.replace(out)
    return out
