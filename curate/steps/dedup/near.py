"""`dedup.near`: MinHash-LSH near-duplicate removal across every input source of the stage."""

from __future__ import annotations

from typing import Callable, Literal, Optional

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from ..base import Step, StepConfig, register
from ..common.minhash import (NearDuplicates, band_keys, components, linked_band_pairs, lsh_params,
                              near_duplicate_components, normalize_for_shingles, signatures)
from ..common.signature_file import SignatureFile
from ..common.text import fields_text, require_fields
from ..decisions import ORDER, Decisions, verdicts


@register("dedup.near")
class NearDedup(Step):
    """Find records whose text is nearly the same (Jaccard similarity of shingle sets at or above
    `threshold`, estimated with MinHash and found with LSH bands), group them into connected
    components and keep one record per group. The defaults catch copies that differ by a word,
    case or punctuation in instruction-length text: character 5-grams of the lowercased text
    without punctuation, 128 permutations, threshold 0.8, bands chosen for the threshold. (A
    one-word change in an instruction and its answer keeps Jaccard near 0.9; records built from
    one template with different numbers sit near 0.6 and are kept.)
    Candidate pairs are verified on their signatures (`verify`). Kept record (`keep`): `first` in
    input order, `longest_response`, or `highest_score` of `score_column`. The others go to the
    ledger as `near_duplicate` with the estimated Jaccard and the kept record's id and origin. The
    step sees all sources of the stage at once, so it also deduplicates across datasets."""

    scope = "dataset"

    class Config(StepConfig):
        fields: list[str] = Field(["instruction", "context", "response"],
                                  description="fields compared, joined (any column, `history` or `text`)")
        unit: Literal["chars", "words"] = Field("chars", description="shingles of characters or of words")
        shingle_size: int = Field(5, ge=1, le=64, description="units per shingle")
        threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity at or above which records are duplicates")
        num_perm: int = Field(128, ge=8, le=1024, description="MinHash permutations")
        bands: Optional[int] = Field(None, ge=1, description="LSH bands (default: chosen for the threshold)")
        rows: Optional[int] = Field(None, ge=1, description="signature values per band (with `bands`)")
        verify: bool = Field(True, description="link a candidate pair only if its estimated Jaccard reaches the threshold")
        lowercase: bool = Field(True, description="compare case-insensitively")
        ignore_punctuation: bool = Field(True, description="ignore punctuation and symbols")
        keep: Literal["first", "longest_response", "highest_score"] = Field("first", description="which record of a group is kept")
        score_column: Optional[str] = Field(None, description="column for keep: highest_score")
        seed: int = Field(1, description="MinHash seed")

        @model_validator(mode="after")
        def _bands_rows(self):
            if (self.bands is None) != (self.rows is None):
                raise ValueError("give both `bands` and `rows`, or neither")
            if self.bands is not None and self.bands * self.rows > self.num_perm:
                raise ValueError(f"bands × rows ({self.bands * self.rows}) exceeds num_perm ({self.num_perm})")
            if self.keep == "highest_score" and not self.score_column:
                raise ValueError("keep: highest_score needs score_column")
            return self

    def signed_rows(self, data: pl.LazyFrame, with_text: bool = True) -> pl.LazyFrame:
        """Per record: `_order`, id, origin, what `keep` ranks by and (with `with_text`) the text
        its signature is made of. A partitioned engine signs slices of these on its workers
        (`sign`) and hands the rest, without the text, to `decide_signed`."""
        cfg = self.config
        require_fields("dedup.near", cfg.fields + ([cfg.score_column] if cfg.score_column else []),
                       data.collect_schema().names())
        text = normalize_for_shingles(fields_text(cfg.fields, separator=" \x1f "), cfg.lowercase,
                                      cfg.ignore_punctuation)
        extra = [pl.col("response").str.len_chars().alias("_len")] if cfg.keep == "longest_response" else []
        if cfg.keep == "highest_score":
            extra = [pl.col(cfg.score_column).cast(pl.Float64).alias("_score")]
        return data.select(pl.col(ORDER), pl.col("id"), pl.col("origin"), *extra,
                           *([text.alias("_text")] if with_text else []))

    def sign(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """MinHash signatures of `frame["_text"]` and which rows had any shingle."""
        cfg = self.config
        return signatures(frame["_text"], cfg.unit, cfg.shingle_size, cfg.num_perm, cfg.seed)

    def bands_rows(self) -> tuple[int, int]:
        cfg = self.config
        return (cfg.bands, cfg.rows) if cfg.bands else lsh_params(cfg.threshold, cfg.num_perm)

    def signature_file(self) -> SignatureFile:
        """Where signatures go as blocks are signed (the run's cache folder)."""
        return SignatureFile(self.ctx.cache_dir, self.config.num_perm, *self.bands_rows())

    def decide(self, data: pl.LazyFrame) -> Decisions:
        """Signs the texts block by block (`batch_size` records); the signatures go to a file and
        only their band keys stay in memory, so memory grows by ~100 bytes a record, not ~600."""
        frame = self.signed_rows(data, with_text=False).collect()
        texts = self.signed_rows(data).select("_text")
        block = max(1, self.ctx.batch_size)
        with self.signature_file() as signed:
            for start in range(0, frame.height, block):
                signed.add(*self.sign(texts.slice(start, block).collect()))
            return self.decide_signed(frame, signed.finish())

    def decide_signed(self, frame: pl.DataFrame, signed: SignatureFile) -> Decisions:
        """The decisions, given every record's signature (rows in input order)."""
        found = (near_duplicate_components(signed, self.config.threshold, self.config.verify)
                 if frame.height >= 2 else None)
        return self.decide_linked(frame, found, signed.similarity, int((~signed.has).sum()))

    def bucket_entries(self, sig: np.ndarray, has: np.ndarray, offset: int) -> pl.DataFrame:
        """The LSH bucket entries of a block of signatures whose first row is `offset`: per band
        (`_b`), the band key (`_k`) of each row that had shingles (`_row`). A partitioned engine
        spreads them by key, so each worker holds whole buckets (`linked_pairs`)."""
        bands, rows = self.bands_rows()
        live = np.flatnonzero(has)
        keys = [band_keys(sig[live, b * rows:(b + 1) * rows]) for b in range(bands)]
        return pl.DataFrame({"_b": np.repeat(np.arange(bands, dtype=np.uint16), len(live)),
                             "_k": np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64),
                             "_row": np.tile(live.astype(np.uint64) + np.uint64(offset), bands)})

    def linked_pairs(self, entries: pl.DataFrame, similarity) -> tuple[np.ndarray, np.ndarray, int]:
        """The verified pairs (left, right) and the candidate count of whole buckets' entries."""
        bands = ((part["_k"].to_numpy(), part["_row"].to_numpy().astype(np.int64))
                 for part in entries.partition_by("_b"))
        return linked_band_pairs(bands, similarity, self.config.threshold, self.config.verify)

    @staticmethod
    def groups(n: int, left: list[np.ndarray], right: list[np.ndarray], candidates: int) -> NearDuplicates:
        return components(n, left, right, candidates)

    def decide_linked(self, frame: pl.DataFrame, found: NearDuplicates | None,
                      similarity: Callable[[np.ndarray, np.ndarray], np.ndarray], no_shingles: int) -> Decisions:
        """The decisions, given the near-duplicate groups (`found`, whoever linked the pairs) and a
        way to read two rows' signature similarity (for the ledger's detail)."""
        n = frame.height
        bands, rows = self.bands_rows()
        stats = {"bands": bands, "rows_per_band": rows}
        if found is None:
            return Decisions(verdicts(frame), stats=stats)
        priority = self._priority(frame)
        order = np.lexsort((frame[ORDER].to_numpy(), priority, found.component))   # ties: input order
        comp = found.component[order]
        first_of_group = np.concatenate([[True], comp[1:] != comp[:-1]])
        kept_row = order[np.maximum.accumulate(np.where(first_of_group, np.arange(n), 0))]
        drop = order[~first_of_group]
        twin = kept_row[~first_of_group]
        removed = np.zeros(n, dtype=bool)
        removed[drop] = True
        jaccard = similarity(drop, twin)
        ids, origins = frame["id"].gather(twin).to_list(), frame["origin"].gather(twin).to_list()
        detail = {row: f"jaccard ~{j:.2f} to kept {i} ({o})"
                  for row, i, o, j in zip(drop.tolist(), ids, origins, jaccard.tolist())}
        groups = np.unique(found.component[drop]).size if len(drop) else 0
        stats.update({"candidate_pairs": found.candidate_pairs, "verified_pairs": found.verified_pairs,
                      "near_duplicate_groups": int(groups), "near_duplicates": int(len(drop)),
                      "no_shingles": no_shingles})
        return Decisions(verdicts(frame, removed, "near_duplicate", detail), stats=stats)

    def _priority(self, frame: pl.DataFrame) -> np.ndarray:
        """Lower sorts first (kept first); ties go to input order."""
        if self.config.keep == "longest_response":
            return -frame["_len"].fill_null(0).to_numpy().astype(np.float64)
        if self.config.keep == "highest_score":
            return -frame["_score"].fill_null(float("-inf")).to_numpy().astype(np.float64)
        return np.zeros(frame.height)
