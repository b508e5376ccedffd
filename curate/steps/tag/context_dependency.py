"""`tag.context_dependency`: which records' responses depend on what the user gave (a passage, a
table, code), scored with a probe model, and tagged for conditional instruction tuning.

Why: chat SFT makes a model lean on its memory over the user's text (*On the Loss of
Context-awareness in General Instruction Fine-tuning*, Wang et al.). Tagging the records whose
response really reads the user's turn, and marking them (`mark.context_indicator`), lets the
trained model be told at test time to follow the context.
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from ...errors import ConfigError
from ...records import to_messages
from ..base import Step, StepConfig, register
from ..common.chunked_scoring import ChunkedScoring
from ..decisions import Decisions, keep_all

DEFAULT_PROBE = "bundled:smollm2-135m-instruct"


@register("tag.context_dependency")
class TagContextDependency(ChunkedScoring, Step):
    """Score how much each response depends on the user's turn and tag the most dependent records.

    `method: attention` (the paper's): a probe LM reads the conversation; for every response
    token, its attention to the user-turn tokens (all user turns before it; system prompt and
    template tokens excluded) summed, the maximum over the heads of `layer` (default: the middle
    layer; `layers` averages several), the mean over the turn's tokens -> `score_context_attention`
    (the last assistant turn's; every turn's in `score_context_turns`).
    `method: loss_gain` (cheaper, any model): the response's mean token loss without the context
    field minus with it -> `score_context_loss_gain`; only records with a context field have one.

    `tag_context_dependent` is true for scores at or above `threshold`, or for the `top_fraction`
    highest (default 0.15: raw attention is not comparable across probe models). A record without
    a score (no user text; for loss_gain, no context) gets null score and tag, counted by reason in
    the stats. A conversation longer than `max_tokens` has the middle of its longest user message
    cut until it fits (counted). A probe without a chat template (a base model) needs `template`,
    a file holding a Jinja chat template that keeps each message's text as it is. Never rejects."""

    scope = "dataset"
    version = "2"   # 2: scored in fixed chunks of records (the same scores on every engine)
    files = ("template",)

    class Config(StepConfig):
        method: Literal["attention", "loss_gain"] = Field("attention", description="how dependence is scored")
        model: str = Field(DEFAULT_PROBE, description="probe causal LM (Hub id, local folder or bundled)")
        layer: Optional[int] = Field(None, description="attention: the layer read (default: the middle one)")
        layers: Optional[list[int]] = Field(None, description="attention: average these layers instead")
        threshold: Optional[float] = Field(None, description="tag scores at or above this value")
        top_fraction: Optional[float] = Field(None, gt=0, le=1, description="tag this share of the scored "
                                                                            "records, highest first (default 0.15)")
        batch_size: int = Field(8, ge=1, description="conversations per forward pass")
        max_tokens: int = Field(2048, ge=64, description="longest conversation the probe reads")
        device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")
        template: Optional[str] = Field(None, description="a file holding a Jinja chat template, for a probe that "
                                                          "has none (or to replace its own)")

        @model_validator(mode="after")
        def _one_rule(self):
            if self.threshold is not None and self.top_fraction is not None:
                raise ValueError("give `threshold` or `top_fraction`, not both")
            if self.threshold is None and self.top_fraction is None:
                self.top_fraction = 0.15
            if self.layer is not None and self.layers:
                raise ValueError("give `layer` or `layers`, not both")
            return self

    def extra_columns(self) -> list[str]:
        return ["source"]

    def scored(self, chunk: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
        """A chunk's scores (and, for attention, every turn's), with the probe loaded once."""
        cfg = self.config
        model, tokenizer, window = self._probe()
        records = chunk.to_dicts()
        if cfg.method == "attention":
            scores, turns, stats = _attention_scores(model, tokenizer, records, cfg, window)
        else:
            (scores, stats), turns = _loss_gain_scores(model, tokenizer, records, cfg, window), None
        columns = {self._column(): pl.Series(scores, dtype=pl.Float64)}
        if turns is not None:
            columns["score_context_turns"] = pl.Series(turns, dtype=pl.List(pl.Float64))
        return pl.DataFrame(columns), stats

    def decide_scored(self, frame: pl.DataFrame, scored: pl.DataFrame, more: dict) -> Decisions:
        cfg = self.config
        stats: dict = {"method": cfg.method, "probe": cfg.model, "unscored": more.pop("unscored")}
        stats.update(more)
        scores = scored[self._column()].to_list()
        tags, rule = _tag(scores, cfg)
        stats.update(rule)
        columns = {name: scored[name] for name in scored.columns}
        columns["tag_context_dependent"] = pl.Series("tag_context_dependent", tags, dtype=pl.Boolean)
        if "source" in frame.columns:
            share = (pl.DataFrame({"source": frame["source"], "tag": pl.Series(tags, dtype=pl.Boolean)})
                     .group_by("source").agg(pl.col("tag").fill_null(False).mean()).sort("source"))
            stats["tagged_share_by_source"] = {str(s): round(float(v), 4) for s, v in share.rows()}
        return Decisions(keep_all(frame, columns), stats=stats)

    def _column(self) -> str:
        return "score_context_attention" if self.config.method == "attention" else "score_context_loss_gain"

    def _probe(self):
        """The probe model, its tokenizer (with the given chat template) and its window, loaded once."""
        if getattr(self, "_loaded", None) is None:
            from ...models.lm import auto_device, load_model, load_tokenizer
            cfg = self.config
            tokenizer = load_tokenizer(cfg.model)
            if cfg.template:
                from ..base import resolve_step_file
                path = resolve_step_file(cfg.template, self.ctx.base_dir, "tag.context_dependency.template")[0]
                tokenizer.chat_template = path.read_text(encoding="utf-8")
            if not getattr(tokenizer, "chat_template", None):
                raise ConfigError(f"tag.context_dependency: the probe {cfg.model} has no chat template: use a chat "
                                  "model, or give `template:` (a file holding a Jinja chat template)")
            model = load_model(cfg.model, auto_device(cfg.device),
                               attention="eager" if cfg.method == "attention" else None).eval()
            window = min(cfg.max_tokens, getattr(model.config, "max_position_embeddings", cfg.max_tokens))
            self._loaded = (model, tokenizer, window)
        return self._loaded


def _fit(tokenizer, messages: list[dict], window: int):
    """The conversation's layout, with the middle of its longest user message cut until it fits
    the window (the start and the end of a passage are where questions point)."""
    from ...models.attention_probe import layout
    item = layout(tokenizer, messages)
    cut = False
    for _ in range(8):
        if len(item.ids) <= window:
            return item, cut
        users = [k for k, m in enumerate(messages) if m["role"] == "user"]
        k = max(users, key=lambda i: len(messages[i]["content"]))
        text = messages[k]["content"]
        keep = max(16, int(len(text) * window / len(item.ids)) - 64)
        if keep >= len(text):
            break
        messages = [*messages[:k], {**messages[k], "content": text[:keep // 2] + " … " + text[-(keep // 2):]},
                    *messages[k + 1:]]
        item, cut = layout(tokenizer, messages), True
    return (item if len(item.ids) <= window else None), cut


def _attention_scores(model, tokenizer, records, cfg, window):
    from ...models.attention_probe import num_layers, user_attention
    depth = num_layers(model)
    layers = cfg.layers or [cfg.layer if cfg.layer is not None else depth // 2]
    bad = [k for k in layers if not 0 <= k < depth]
    if bad:
        raise ConfigError(f"tag.context_dependency: layer(s) {bad} not in the probe's 0..{depth - 1}")
    scores: list = [None] * len(records)
    turns: list = [None] * len(records)
    unscored: dict[str, int] = {}
    truncated = 0
    items = []
    for k, record in enumerate(records):
        if not (record.get("instruction") or "").strip() and not (record.get("context") or "").strip():
            unscored["no user text"] = unscored.get("no user text", 0) + 1
            continue
        try:
            item, cut = _fit(tokenizer, to_messages(record), window)
        except ValueError as exc:
            raise ConfigError(f"tag.context_dependency: {exc}") from None
        truncated += cut
        if item is None or not item.turns or not item.user.any():
            reason = "longer than the probe's window" if item is None else "no response or user tokens"
            unscored[reason] = unscored.get(reason, 0) + 1
            continue
        items.append((k, item))
    items.sort(key=lambda pair: len(pair[1].ids))
    for start in range(0, len(items), cfg.batch_size):
        chunk = items[start:start + cfg.batch_size]
        for (k, _), values in zip(chunk, user_attention(model, tokenizer.pad_token_id or 0, [it for _, it in chunk],
                                                        layers)):
            turns[k] = values
            scores[k] = values[-1]
    return scores, turns, {"unscored": unscored, "cut_to_window": truncated, "layers": layers,
                           "scored": len(items)}


def _loss_gain_scores(model, tokenizer, records, cfg, window):
    from ...models.greedy import fit_window, render_prompts
    from ...models.loglik import continuation_logprobs
    unscored: dict[str, int] = {}
    keep, with_ctx, without_ctx, responses = [], [], [], []
    for k, record in enumerate(records):
        if not (record.get("context") or "").strip():
            unscored["no context field"] = unscored.get("no context field", 0) + 1
            continue
        ids = tokenizer(record.get("response") or "", add_special_tokens=False)["input_ids"]
        if not ids:
            unscored["empty response"] = unscored.get("empty response", 0) + 1
            continue
        keep.append(k)
        with_ctx.append(to_messages(record)[:-1])
        without_ctx.append(to_messages({**record, "context": None})[:-1])
        responses.append(ids[:window // 2])
    scores: list = [None] * len(records)
    if keep:
        reserves = [len(r) for r in responses]
        a, cut_a = fit_window(render_prompts(tokenizer, with_ctx), reserves, window)
        b, _ = fit_window(render_prompts(tokenizer, without_ctx), reserves, window)
        lp_with = continuation_logprobs(model, tokenizer.pad_token_id or 0, list(zip(a, responses)))
        lp_without = continuation_logprobs(model, tokenizer.pad_token_id or 0, list(zip(b, responses)))
        for k, x, y in zip(keep, lp_with, lp_without):
            scores[k] = float(-y.mean() + x.mean())          # loss without context - loss with it
    else:
        cut_a = 0
    return scores, {"unscored": unscored, "cut_to_window": cut_a, "scored": len(keep)}


def _tag(scores: list, cfg) -> tuple[list, dict]:
    values = np.array([s for s in scores if s is not None], dtype=np.float64)
    if cfg.threshold is not None:
        cutoff = cfg.threshold
    elif len(values):
        n = max(1, int(round(len(values) * cfg.top_fraction)))
        cutoff = float(np.sort(values)[::-1][n - 1])
    else:
        cutoff = float("inf")
    tags = [None if s is None else bool(s >= cutoff) for s in scores]
    return tags, {"cutoff": None if not np.isfinite(cutoff) else round(cutoff, 6),
                  "tagged": int(sum(1 for t in tags if t))}
