"""`score.token_quality`: token-level loss masks (*Token Cleaning: Fine-Grained Data Selection for
LLM Supervised Fine-Tuning*, Pang et al., ICML 2025).

Not every token of a good response is worth learning: a token the base model already predicts, or
one no better model predicts either, teaches little. Each response token is scored by how much a
reference model (the base after a short warm-up on high-quality data) improves on the base's loss
there, `loss_base - loss_ref`; the top share (`keep`, the paper's 60%) keeps its loss, the rest is
masked out of training. `curate train` reads the `loss_mask` column this step writes.
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from ...errors import ConfigError
from ...models.bundled import SMOLLM2
from ...records import to_messages
from ..base import Step, StepConfig, register
from ..common.conversations import conversation_frame
from ..decisions import Decisions, keep_all


@register("score.token_quality")
class ScoreTokenQuality(Step):
    """Per token of each record's response (as the model's tokenizer splits it inside the chat
    template, the same tokens `curate train` trains on): `loss_base - loss_ref`, the first token
    scored 0 (as the reference implementation does). `reference`: a model folder or Hub id, or
    `reference_adapter`: a LoRA adapter over `model` (e.g. `curate train` on a high-quality
    subset). `scope: global` keeps the `keep` share of all response tokens of the dataset with the
    highest scores; `per_record` that share of each response. `mode: random` writes a seeded
    random mask at the same share instead (the paper's control; no model is loaded). Writes
    `loss_mask` (one 0/1 per response token) and `score_token_kept` (the share kept). A record
    whose response tokenizes differently inside the template, or that has none, gets no mask
    (null: all of it trains), counted in the stats. Never rejects."""

    scope = "dataset"

    class Config(StepConfig):
        model: str = Field(SMOLLM2, description="the base model: the one `curate train` will fine-tune")
        reference: Optional[str] = Field(None, description="the reference model (folder or Hub id)")
        reference_adapter: Optional[str] = Field(None, description="a LoRA adapter over `model` as the reference")
        mode: Literal["reference", "random"] = Field("reference", description="scored masks, or random ones")
        keep: float = Field(0.6, gt=0, le=1, description="share of response tokens that keep their loss")
        scope: Literal["global", "per_record"] = Field("global", description="where the share is taken")
        max_tokens: int = Field(2048, ge=16, description="prompt + response tokens read (prompts cut from the left)")
        device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")

        @model_validator(mode="after")
        def _one_reference(self):
            if self.mode == "reference" and bool(self.reference) == bool(self.reference_adapter):
                raise ValueError("mode: reference needs exactly one of `reference` and `reference_adapter`")
            return self

    def decide(self, data: pl.LazyFrame) -> Decisions:
        from ...models.lm import load_tokenizer
        cfg = self.config
        frame = conversation_frame(data)
        tokenizer = load_tokenizer(cfg.model)
        items, unscored = _response_tokens(tokenizer, frame.to_dicts())
        if cfg.mode == "random":
            rng = np.random.default_rng(self.ctx.seed)
            scores, cut = {k: rng.random(len(answer)) for k, (_, answer) in items.items()}, 0
        else:
            scores, cut = self._scores(tokenizer, items)
        masks = _select(scores, cfg.keep, cfg.scope)
        mask_column = [masks[k].astype(int).tolist() if k in masks else None for k in range(frame.height)]
        kept = [float(masks[k].mean()) if k in masks else None for k in range(frame.height)]
        total = sum(len(m) for m in masks.values())
        stats = {"mode": cfg.mode, "scope": cfg.scope, "records_masked": len(masks), "response_tokens": total,
                 "tokens_kept": int(sum(int(m.sum()) for m in masks.values())), "unscored": unscored,
                 "prompts_cut_to_window": cut}
        columns = {"loss_mask": pl.Series("loss_mask", mask_column, dtype=pl.List(pl.Int8)),
                   "score_token_kept": pl.Series("score_token_kept", kept, dtype=pl.Float64)}
        return Decisions(keep_all(frame, columns), stats=stats)

    def _scores(self, tokenizer, items: dict[int, tuple[list[int], list[int]]]) -> tuple[dict[int, np.ndarray], int]:
        """loss_base - loss_ref per response token (= logp_ref - logp_base), the first token 0."""
        from ...models.greedy import fit_window
        from ...models.lm import auto_device, load_for_eval, load_model
        from ...models.loglik import continuation_logprobs
        cfg = self.config
        device = auto_device(cfg.device)
        keys = list(items)
        if not keys:
            return {}, 0
        prompts, cut = fit_window([items[k][0] for k in keys], [len(items[k][1]) for k in keys], cfg.max_tokens)
        pairs = list(zip(prompts, [items[k][1] for k in keys]))
        pad = tokenizer.pad_token_id or 0
        base = load_model(cfg.model, device).eval()
        base_lp = continuation_logprobs(base, pad, pairs)
        del base
        if cfg.reference_adapter:
            reference, _ = load_for_eval(cfg.model, cfg.reference_adapter, device)
        else:
            reference = load_model(cfg.reference, device).eval()
        if reference.get_input_embeddings().num_embeddings < len(tokenizer):
            raise ConfigError(f"score.token_quality: the reference's vocabulary is smaller than {cfg.model}'s")
        ref_lp = continuation_logprobs(reference, pad, pairs)
        out = {}
        for k, b, r in zip(keys, base_lp, ref_lp):
            score = (r - b).astype(np.float64)
            score[0] = 0.0
            out[k] = score
        return out, cut


def _response_tokens(tokenizer, records: list[dict]) -> tuple[dict[int, tuple[list[int], list[int]]], dict]:
    """(prompt ids, response ids) per record, exactly as `train.examples.encode` places the final
    response (the conversation up to it with the generation prompt, then the response's tokens)."""
    from ...models.chat_template import chat_ids
    items, unscored = {}, {}
    for k, record in enumerate(records):
        response = record.get("response") or ""
        if not response.strip():
            unscored["empty response"] = unscored.get("empty response", 0) + 1
            continue
        messages = to_messages(record)
        prefix = chat_ids(tokenizer, messages[:-1], generation_prompt=True)
        full = chat_ids(tokenizer, messages, generation_prompt=False)
        answer = tokenizer(response, add_special_tokens=False)["input_ids"]
        if full[:len(prefix)] != prefix or full[len(prefix):len(prefix) + len(answer)] != answer:
            unscored["response tokenizes differently in the template"] = \
                unscored.get("response tokenizes differently in the template", 0) + 1
            continue
        items[k] = (prefix, answer)
    return items, unscored


def _select(scores: dict[int, np.ndarray], keep: float, scope: str) -> dict[int, np.ndarray]:
    """Boolean masks: the `keep` share of tokens with the highest scores, over all records
    (`global`) or within each (`per_record`, at least one token per record)."""
    if not scores:
        return {}
    if scope == "per_record":
        out = {}
        for k, s in scores.items():
            n = max(1, int(round(len(s) * keep)))
            mask = np.zeros(len(s), dtype=bool)
            mask[np.argsort(-s, kind="stable")[:n]] = True
            out[k] = mask
        return out
    keys = list(scores)
    flat = np.concatenate([scores[k] for k in keys])
    n = int(round(len(flat) * keep))
    chosen = np.zeros(len(flat), dtype=bool)
    chosen[np.argsort(-flat, kind="stable")[:n]] = True
    out, start = {}, 0
    for k in keys:
        out[k] = chosen[start:start + len(scores[k])]
        start += len(scores[k])
    return out
