"""`filter.near`: embedding-based decontamination against reference sets given as files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import numpy as np
import polars as pl
from pydantic import Field

from ..base import Result, Step, register, split
from ..common.embedding import EmbeddingConfig, embed_frame, make_embedder
from .references import read_references


@register("filter.near")
class NearFilter(Step):
    """Drop records within `threshold` cosine of any record of a reference set (eval sets, say):
    `references` are files or globs in any format curate reads (auto-detected, or `reference_format`).
    The ledger (`near_reference`) names the matched reference item (its origin) and the similarity.
    `mode: keep` does the opposite: keeps only records near a reference (`not_near_reference`).
    The reference index is saved in the run's cache folder."""

    files = ("references", "embeddings")

    class Config(EmbeddingConfig):
        references: list[str] = Field(description="reference files or globs (eval sets)")
        reference_format: Optional[str] = Field(None, description="format of the reference files (auto when absent)")
        reference_field: Optional[str] = Field(None, description="text of the references to embed (default: `field`)")
        threshold: float = Field(0.9, gt=0, le=1, description="cosine similarity at or above which a record matches")
        mode: Literal["drop", "keep"] = Field("drop", description="drop matches, or keep only matches")

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.embedder = None
        self.index = None

    def _load_references(self):
        from ...models.index import VectorIndex
        cfg = self.config
        refs = read_references(cfg.references, cfg.reference_format, self.ctx, "filter.near")
        self.embedder = make_embedder(cfg)
        ref_cfg = cfg.model_copy(update={"field": cfg.reference_field or cfg.field, "embeddings": None})
        vectors, _ = embed_frame(refs, ref_cfg, self.embedder)
        self.ref_origin = refs["origin"].to_list()
        self.index = VectorIndex(vectors.shape[1]).add(vectors)
        if self.ctx.cache_dir:
            Path(self.ctx.cache_dir).mkdir(parents=True, exist_ok=True)
            self.index.save(Path(self.ctx.cache_dir) / f"{self.ctx.stage:02d}-filter.near-references.faiss")

    def apply(self, batch: pl.DataFrame) -> Result:
        if self.index is None:
            self._load_references()
        cfg = self.config
        vectors, _ = embed_frame(batch, cfg, self.embedder, self.ctx.base_dir)
        sims, ids = self.index.search(vectors, 1) if batch.height else (np.zeros((0, 1)), np.zeros((0, 1), int))
        near = sims[:, 0] >= cfg.threshold
        detail = pl.Series([f"cos {s:.3f} to {self.ref_origin[i]}" for s, i in zip(sims[:, 0], ids[:, 0])],
                           dtype=pl.Utf8)
        frame = batch.with_columns(detail.alias("_near"))
        if cfg.mode == "drop":
            res = split(frame, pl.Series(~near), "near_reference", pl.col("_near"))
        else:
            res = split(frame, pl.Series(near), "not_near_reference", pl.col("_near"))
        res.kept = res.kept.drop("_near")
        res.stats = {"near": int(near.sum())}
        return res
