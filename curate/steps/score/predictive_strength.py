"""`score.predictive_strength`: how well a record's loss across a family of models predicts their
downstream ability (*Predictive Data Selection: The Data That Predicts Is the Data That Teaches*,
Shum et al., 2025).

Each probe model has a downstream score. For each record, each model's normalised loss, bits per
character of the record's text (models with different tokenizers compare), and then the
predictive strength: the share of model pairs whose loss order matches their score order (the
better model has the lower loss), 1.0 for a perfect match. Records the family ranks correctly are
the ones worth training on; `select.preselect` learns to find them cheaply with fastText.

The formula, stated because the released script does not run as published: for probes i, j with
scores s_i != s_j, the pair matches when (bpc_i - bpc_j) * (s_i - s_j) < 0; strength = matches /
pairs with distinct scores. Equal losses match no pair; equal scores are no pair (reported).
"""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..base import Step, StepConfig, register
from ..common.chunked_scoring import fixed_spans
from ..common.text import field_text
from ..common.conversations import conversation_frame
from ..decisions import Decisions, keep_all

MIN_PROBES = 5          # with 3, a perfect ranking happens by chance 1 time in 6


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="Hub id, local folder or bundled name")
    adapter: Optional[str] = Field(None, description="a LoRA adapter over `model`")
    score: float = Field(description="the model's downstream score (higher is better, unless the step's "
                                     "`lower_is_better`)")
    name: Optional[str] = Field(None, description="column suffix (default: from the adapter or model)")

    def label(self) -> str:
        """The column suffix: `name`, else the adapter's folder (its parent for `.../adapter`, as
        `curate train` writes it), else the model's last path part."""
        if self.name:
            raw = self.name
        elif self.adapter:
            path = Path(self.adapter)
            raw = path.parent.name if path.name == "adapter" else path.name
        else:
            raw = Path(self.model.split(":")[-1]).name
        return re.sub(r"[^0-9A-Za-z]+", "_", raw).strip("_").lower() or "probe"


def predictive_strength(bpc: np.ndarray, scores: np.ndarray, method: str = "pairs") -> np.ndarray:
    """`bpc`: (records, probes); `scores`: (probes,). Per record, the share of probe pairs with
    distinct scores whose loss order is the reverse of their score order (or, `spearman`, the rank
    correlation of -bpc with the scores). NaN where a record has a missing loss."""
    out = np.full(len(bpc), np.nan)
    ok = ~np.isnan(bpc).any(1)
    if method == "spearman":
        from scipy.stats import spearmanr
        for k in np.flatnonzero(ok):
            out[k] = spearmanr(-bpc[k], scores).statistic
        return out
    pairs = [(i, j) for i, j in combinations(range(len(scores)), 2) if scores[i] != scores[j]]
    if not pairs:
        return out
    i, j = np.array(pairs).T
    matches = (bpc[:, i] - bpc[:, j]) * (scores[i] - scores[j]) < 0
    out[ok] = matches[ok].mean(1)
    return out


PROBE_ROWS = 256     # texts per scoring call, on every engine: a loss's last bits depend on its batch


def probe_chunks(n: int) -> list[tuple[int, int]]:
    """(offset, rows) of the scoring calls over `n` texts."""
    return fixed_spans(n, PROBE_ROWS)


def load_probe(probe: Probe, cfg):
    """The probe's model (with its adapter) and tokenizer, for scoring."""
    from ...models.lm import auto_device, load_for_eval
    return load_for_eval(probe.model, probe.adapter, auto_device(cfg.device))


def chunk_bpc(loaded, texts: list[str], max_tokens: int) -> np.ndarray:
    """Bits per character of each text (its first `max_tokens` tokens) under a loaded probe."""
    from ...models.loglik import continuation_logprobs
    model, tokenizer = loaded
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pairs, chars = [], []
    for text in texts:
        tokens = tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens]
        pairs.append(([start], tokens))
        chars.append(max(1, len(tokenizer.decode(tokens))))
    logprobs = continuation_logprobs(model, tokenizer.pad_token_id or 0, pairs)
    return np.array([float(-lp.sum() / np.log(2) / n) for lp, n in zip(logprobs, chars)], dtype=np.float64)


def chunks_here(probe: Probe, cfg, chunks: list[list[str]]) -> list[np.ndarray]:
    """Each chunk of texts scored in this process, the probe loaded once."""
    loaded = load_probe(probe, cfg)
    return [chunk_bpc(loaded, texts, cfg.max_tokens) for texts in chunks]


@register("score.predictive_strength")
class ScorePredictiveStrength(Step):
    """Per record: `score_bpc_<probe>` for every probe model (bits per character of `field`, the
    record's text by default) and `score_predictive`, the predictive strength over the probes
    (`method: pairs`, the share of correctly ordered pairs; or `spearman`). At least 5 probes with
    a score each (`probes`, or `probes_file`: the YAML `curate probes` writes); probes with adapters
    must share one base. `sample: N` scores only N records (seeded by record id; the rest null),
    which is all `select.preselect` needs. A text shorter than `min_chars` gets null (its BPC is
    not stable), counted. Losses are cached per probe and record in the user cache
    (`<cache>/bpc/`), so adding a probe scores only that probe. Never rejects."""

    scope = "dataset"
    version = "2"   # 2: texts scored in fixed chunks of PROBE_ROWS (the same losses on every engine)
    files = ("probes_file",)
    score_chunks = staticmethod(chunks_here)    # the Ray engine sends the chunks to its workers

    class Config(StepConfig):
        probes: Optional[list[Probe]] = Field(None, description="models with their downstream scores")
        probes_file: Optional[str] = Field(None, description="or a YAML file with `probes:` (as `curate probes` "
                                                             "writes it: a family built and scored on a suite)")
        sample: Optional[int] = Field(None, ge=1, description="score only this many records (a seeded sample; "
                                                              "the rest get null): the probes are slow, and "
                                                              "`select.preselect` learns from a sample")
        field: str = Field("text", description="text scored: a column, or `text` for all of a record's text")
        lower_is_better: bool = Field(False, description="the probes' scores are losses (a `probes_file` says "
                                                         "so itself)")
        method: Literal["pairs", "spearman"] = Field("pairs", description="how loss order is matched to scores")
        min_chars: int = Field(32, ge=1, description="shorter texts get no score")
        max_tokens: int = Field(1024, ge=8, description="tokens of each text read (the start)")
        device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")

        @model_validator(mode="after")
        def _family(self):
            if (self.probes is None) == (self.probes_file is None):
                raise ValueError("give exactly one of `probes` (a list) and `probes_file`")
            if self.probes is not None:
                check_family(self.probes)
            return self

    def decide(self, data: pl.LazyFrame) -> Decisions:
        from ...progress import Progress
        cfg = self.config
        probes, lower = (cfg.probes, cfg.lower_is_better) if cfg.probes is not None else self._probes_from_file()
        frame = conversation_frame(data, [cfg.field, "origin"])
        texts = frame.select(field_text(cfg.field).fill_null("")).to_series().to_list()
        ids = frame["id"].to_list()
        short = [len(t) < cfg.min_chars for t in texts]
        todo = [k for k, s in enumerate(short) if not s]
        skipped = 0
        if cfg.sample is not None and len(todo) > cfg.sample:
            chosen = set(_sampled(frame, todo, cfg.sample, self.ctx.seed))
            skipped, todo = len(todo) - cfg.sample, [k for k in todo if k in chosen]
        columns, matrix = {}, np.full((frame.height, len(probes)), np.nan)
        bar = Progress()
        with bar:
            task = bar.task("predictive strength", total=len(probes))
            for p, probe in enumerate(probes):
                values = _probe_bpc(probe, [ids[k] for k in todo], [texts[k] for k in todo], cfg, self.score_chunks)
                matrix[todo, p] = values
                columns[f"score_bpc_{probe.label()}"] = pl.Series(f"score_bpc_{probe.label()}",
                                                                  matrix[:, p], dtype=pl.Float64).fill_nan(None)
                bar.advance(task, 1)
        scores = np.array([p.score for p in probes], dtype=np.float64) * (-1.0 if lower else 1.0)
        strength = predictive_strength(matrix, scores, cfg.method)
        columns["score_predictive"] = pl.Series("score_predictive", strength, dtype=pl.Float64).fill_nan(None)
        tied = sum(1 for i, j in combinations(range(len(scores)), 2) if scores[i] == scores[j])
        valid = strength[~np.isnan(strength)]
        unscored = {"shorter than min_chars": sum(short), "not in the sample": skipped}
        stats = {"probes": {p.label(): p.score for p in probes}, "method": cfg.method, "scored": int(len(valid)),
                 "unscored": {k: v for k, v in unscored.items() if v},
                 "tied_score_pairs": tied, "strength_1": int((valid >= 1.0).sum()) if cfg.method == "pairs" else None}
        return Decisions(keep_all(frame, columns), stats=stats)

    def _probes_from_file(self) -> tuple[list[Probe], bool]:
        """The family and whether its scores are losses (the file's `lower_is_better`, else the
        step's)."""
        import yaml
        from ...errors import ConfigError
        from ..base import resolve_step_file
        path = resolve_step_file(self.config.probes_file, self.ctx.base_dir, f"{self.name}.probes_file")[0]
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            probes = [Probe.model_validate(p) for p in content.get("probes") or []]
            check_family(probes)
        except (yaml.YAMLError, AttributeError, ValueError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for probe in probes:
            if probe.adapter and not Path(probe.adapter).is_dir():
                raise ConfigError(f"{path}: probe {probe.label()}: adapter {probe.adapter} not found (a cleared cache? "
                                  "rebuild the family with `curate probes`)")
        return probes, bool(content.get("lower_is_better", self.config.lower_is_better))


def check_family(probes: list[Probe]) -> None:
    """Enough probes with an order to predict, one base under adapters, distinct column names."""
    if len(probes) < MIN_PROBES:
        raise ValueError(f"{len(probes)} probe models given: at least {MIN_PROBES} are needed (with 3, "
                         "a perfect ranking happens by chance 1 time in 6)")
    if len({p.score for p in probes}) < 2:
        raise ValueError("every probe has the same score: there is no order to predict")
    if any(p.adapter for p in probes) and len({p.model for p in probes}) > 1:
        raise ValueError(f"probes with adapters must share one base model; these have {sorted({p.model for p in probes})}")
    labels = [p.label() for p in probes]
    twice = sorted({n for n in labels if labels.count(n) > 1})
    if twice:
        raise ValueError(f"probe names {twice} repeat: give each probe a `name`")


def _sampled(frame: pl.DataFrame, rows: list[int], n: int, seed: int) -> list[int]:
    """`n` of `rows`, a seeded sample by hash rank of the record's id (the same records whatever
    the row order)."""
    from ..common.hash_rank import ranks
    ranked = ranks(frame[rows].select("id", "origin"), seed)["_rank"].to_numpy()
    return [rows[k] for k in np.argsort(ranked, kind="stable")[:n]]


def _probe_bpc(probe: Probe, ids: list[str], texts: list[str], cfg, score_chunks=chunks_here) -> np.ndarray:
    """Bits per character of each text under `probe`, from the cache where it has them; the rest
    scored in fixed chunks by `score_chunks` (here, or on a cluster's workers), then cached."""
    from ...fingerprint import digest, folder_fingerprint
    from ...models.lm import resolve
    from ...user_cache import cache_dir
    location = Path(resolve(probe.model))
    model_id = folder_fingerprint(location) if location.is_dir() else probe.model
    adapter_id = folder_fingerprint(Path(probe.adapter)) if probe.adapter else None
    path = cache_dir() / "bpc" / f"{digest('bpc', model_id, adapter_id, cfg.max_tokens)[:16]}.parquet"
    known: dict[str, float] = {}
    if path.is_file():
        cached = pl.read_parquet(path)
        known = dict(zip(cached["id"].to_list(), cached["bpc"].to_list()))
    missing = [k for k, i in enumerate(ids) if i not in known]
    if missing:
        spans = probe_chunks(len(missing))
        scored = score_chunks(probe, cfg, [[texts[k] for k in missing[o:o + n]] for o, n in spans])
        for (offset, rows), values in zip(spans, scored):
            for k, value in zip(missing[offset:offset + rows], values):
                known[ids[k]] = float(value)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        pl.DataFrame({"id": list(known), "bpc": list(known.values())}).write_parquet(tmp)
        tmp.replace(path)
    return np.array([known[i] for i in ids], dtype=np.float64)
