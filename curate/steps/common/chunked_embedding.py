"""Embedding every record of a dataset-scope step so that the vectors are the same on every
engine, and so that the Ray engine can compute them on its workers (`engines/ray_embedded.py`).

A vector's last bits depend on the other texts of its batch (through padding; up to 1e-3 in
bf16), and k-means, k-center and the similarity thresholds then see those bits. So:

- records are embedded in fixed chunks of `EMBED_ROWS`, in input order;
- the embedding cache is read as it was when the stage began: the vectors computed here are added
  to it only after every chunk is embedded, so no chunk's vectors depend on which chunk ran first;
- every copy of a text takes the vector of its first occurrence, so copies tie exactly, and a
  cache filled by the step gives the vectors a cold run computed.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..decisions import ORDER
from .chunked_scoring import ComputedElsewhere, fixed_spans, merged_stats
from .embedding import embed_frame, embedded_texts, embedding_columns, make_embedder

EMBED_ROWS = 8192    # records per embedding call, on every engine


def chunk_spans(n: int) -> list[tuple[int, int]]:
    """(offset, rows) of the embedding chunks of `n` records."""
    return fixed_spans(n, EMBED_ROWS)


class ChunkedEmbedding(ComputedElsewhere):
    """For a dataset-scope step with an `EmbeddingConfig` that embeds every record: its parts (each
    run by the Ray engine where the data is) and `embed_all`, which runs them here."""

    def extra_columns(self) -> list[str]:
        """Columns the step reads besides the text and ids."""
        return []

    def chunk_columns(self, data: pl.LazyFrame) -> pl.LazyFrame:
        """What embedding and the step's decision read from the stage."""
        return embedding_columns(data, self.config, self.extra_columns())

    @staticmethod
    def chunks(n: int) -> list[tuple[int, int]]:
        return chunk_spans(n)

    def wants_vectors(self, n: int) -> bool:
        """Whether the step's decision over `n` records reads their vectors at all."""
        return n > 0

    def embedded(self, chunk: pl.DataFrame) -> tuple[np.ndarray, dict]:
        """One chunk's vectors, with the embedder this step keeps (a Ray actor loads it once),
        the cache read but not added to (`remember` adds them once every chunk is embedded)."""
        return embed_frame(chunk, self.config, self._kept_embedder(), base_dir=self.ctx.base_dir, remember=False)

    def text_keys(self, chunk: pl.DataFrame) -> pl.DataFrame:
        """Each record's embedded text as two 64-bit hashes (`_a`, `_b`), with its `_order`."""
        text = pl.Series(embedded_texts(chunk, self.config))
        return pl.DataFrame({ORDER: chunk[ORDER].cast(pl.UInt64), "_a": text.hash(seed=0x5EED),
                             "_b": text.hash(seed=0xC0FFEE)})

    @staticmethod
    def copies(keys: pl.DataFrame) -> pl.DataFrame:
        """The records (`_order`) whose text occurred earlier, with that first occurrence (`_first`),
        among `keys` that hold every record of their texts."""
        first = keys.with_columns(pl.col(ORDER).min().over("_a", "_b").alias("_first"))
        return first.filter(pl.col(ORDER) != pl.col("_first")).select(ORDER, "_first")

    def remember(self, chunk: pl.DataFrame, vectors: np.ndarray) -> None:
        """Add a chunk's vectors to the embedding cache (not those from a given `embeddings` file)."""
        if not self.config.embeddings:
            self._kept_embedder().remember(embedded_texts(chunk, self.config), vectors)

    def _kept_embedder(self):
        if getattr(self, "_embedder", None) is None:
            self._embedder = make_embedder(self.config)
        return self._embedder

    def embed_all(self, frame: pl.DataFrame) -> tuple[np.ndarray, dict]:
        """Every record's vector (rows of `frame`, whose `_order` is its row position) by the rules
        above, and the embedding stats added up over the chunks."""
        given = self.take_computed()                # on Ray: the workers' vectors
        if given is not None:
            if len(given[0]) != frame.height:
                raise RuntimeError(f"{len(given[0])} vectors given for {frame.height} records")
            return given
        spans = self.chunks(frame.height)
        embedded = [self.embedded(frame.slice(offset, rows)) for offset, rows in spans]
        vectors = np.concatenate([v for v, _ in embedded])
        copies = self.copies(self.text_keys(frame))
        vectors[copies[ORDER].to_numpy().astype(np.int64)] = vectors[copies["_first"].to_numpy().astype(np.int64)]
        for offset, rows in spans:
            self.remember(frame.slice(offset, rows), vectors[offset:offset + rows])
        return vectors, merged_stats([s for _, s in embedded])
