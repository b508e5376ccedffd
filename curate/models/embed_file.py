"""`curate embed`: vectors for a run's final dataset or any readable data, as Parquet."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..errors import ConfigError
from .bundled import MINILM


def load_records(data: str) -> pl.DataFrame:
    """A run directory's final dataset, or records read from files (format auto-detected)."""
    path = Path(data)
    if path.is_dir() and (path / "final.parquet").is_file():
        return pl.read_parquet(path / "final.parquet")
    if path.is_dir():
        raise ConfigError(f"{data} is a folder but not a finished curate run (no final.parquet)")
    from ..io.sources import InputReader
    from ..recipe import InputSpec
    reader = InputReader(InputSpec(path=data), 0, None, 0, 50_000)
    frames = [frame for frame, _ in reader.batches()]
    return pl.concat(frames)


def embed_to_parquet(data: str, out: Path, field: str = "text", model: str | None = None,
                     device: str = "auto", backend: str = "auto") -> Path:
    from ..steps.embedding import EmbeddingConfig, embed_frame
    from .embed import Embedder
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
    frame.write_parquet(tmp)
    tmp.replace(out)
    return out
