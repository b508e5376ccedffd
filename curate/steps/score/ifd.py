"""`score.ifd`: instruction-following difficulty (Li et al., *From Quantity to Quality*, the
Cherry LLM; Superfiltering: the same score from a small model).

IFD = the response's mean token loss given the instruction / its mean loss without it. Near 1:
the instruction hardly helps predict the response (an easy, generic or unrelated answer); well
below 1: the instruction determines the response. Above 1: the instruction makes the response
*less* likely, usually a mismatched pair. Cherry selects the records with the highest IFD below 1:
hard but coherent. The model-based selector Data-Juicer and DataFlow users know, and a baseline
for predictive data selection.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from ...models.bundled import SMOLLM2
from ...records import to_messages
from ..base import Step, StepConfig, register
from ..common.chunked_scoring import ChunkedScoring
from ..decisions import Decisions, keep_all


@register("score.ifd")
class ScoreIFD(ChunkedScoring, Step):
    """`score_ifd` per record: the mean loss of the response's tokens after the whole conversation
    (system, history, instruction, context, through the chat template) divided by their mean loss
    after an empty user turn. A record without a response gets null (counted). Small models work
    (Superfiltering: GPT-2 scores agree with large ones); default the bundled SmolLM2. Never
    rejects: select with `select.top` or `filter.where` (e.g. `score_ifd < 1`). Also writes
    `score_response_loss`, the response's mean loss given the conversation (nats per token): the
    usual perplexity filter is `select.top` on it with `ascending: true`."""

    scope = "dataset"
    version = "3"   # 2: score_response_loss beside score_ifd; 3: scored in fixed chunks (the same on every engine)

    class Config(StepConfig):
        model: str = Field(SMOLLM2, description="the scoring causal LM")
        max_tokens: int = Field(2048, ge=16, description="prompt + response tokens read (prompts cut from the left)")
        max_response_tokens: int = Field(512, ge=1, description="response tokens scored (the first N)")
        device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")

    def scored(self, chunk: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
        """`score_ifd` and `score_response_loss` of a chunk's records (the model loaded once)."""
        from ...models.chat_template import chat_ids
        from ...models.greedy import fit_window
        from ...models.loglik import continuation_logprobs
        cfg = self.config
        tokenizer = self._tokenizer()
        empty_turn = chat_ids(tokenizer, [{"role": "user", "content": ""}], generation_prompt=True)
        keep, prompts, answers, unscored = [], [], [], {}
        for k, record in enumerate(chunk.to_dicts()):
            answer = tokenizer(record.get("response") or "", add_special_tokens=False)["input_ids"][:cfg.max_response_tokens]
            if not answer:
                unscored["empty response"] = unscored.get("empty response", 0) + 1
                continue
            keep.append(k)
            prompts.append(chat_ids(tokenizer, to_messages(record)[:-1], generation_prompt=True))
            answers.append(answer)
        scores: list = [None] * chunk.height
        losses: list = [None] * chunk.height
        cut = 0
        if keep:
            model = self._model()
            pad = tokenizer.pad_token_id or 0
            prompts, cut = fit_window(prompts, [len(a) for a in answers], cfg.max_tokens)
            given = continuation_logprobs(model, pad, list(zip(prompts, answers)))
            alone = continuation_logprobs(model, pad, [(empty_turn, a) for a in answers])
            for k, g, a in zip(keep, given, alone):
                scores[k] = float(np.mean(-g) / max(np.mean(-a), 1e-9))
                losses[k] = float(np.mean(-g))
        values = [v for v in scores if v is not None]
        stats = {"scored": len(values), "unscored": unscored, "prompts_cut_to_window": cut,
                 "above_1": sum(v > 1 for v in values)}
        return pl.DataFrame({"score_ifd": pl.Series(scores, dtype=pl.Float64),
                             "score_response_loss": pl.Series(losses, dtype=pl.Float64)}), stats

    def decide_scored(self, frame: pl.DataFrame, scores: pl.DataFrame, stats: dict) -> Decisions:
        values = scores["score_ifd"].drop_nulls()
        stats["median"] = round(float(values.median()), 4) if len(values) else None
        return Decisions(keep_all(frame, {name: scores[name] for name in scores.columns}), stats=stats)

    def _tokenizer(self):
        from ...models.lm import load_tokenizer
        if getattr(self, "_tok", None) is None:
            self._tok = load_tokenizer(self.config.model)
        return self._tok

    def _model(self):
        from ...models.lm import auto_device, load_model
        if getattr(self, "_lm", None) is None:
            self._lm = load_model(self.config.model, auto_device(self.config.device)).eval()
        return self._lm
