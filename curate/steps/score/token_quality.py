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
from ...models.trainer_hook import train_adapter
from ...records import to_messages
from ..base import Step, StepConfig, register
from ..common.conversations import conversation_frame
from ..decisions import Decisions, keep_all, verdicts


class Warmup(StepConfig):
    """A reference built in the step: `model` LoRA-trained on high-quality `data` (cached)."""
    data: str = Field(description="the high-quality DATA the reference warms up on (file, glob or run folder)")
    max_tokens: Optional[int] = Field(None, ge=1, description="token budget (default: `epochs` of the data)")
    epochs: float = Field(1.0, gt=0)
    lr: float = Field(2e-4, gt=0)
    max_len: int = Field(1024, ge=16)


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
    (null: all of it trains), counted in the stats.

    `warmup: {data: ...}` builds the reference in the step: the base LoRA-trained on that data
    (cached by fingerprint). `rounds: N` is the self-evolving variant: the records, in input order,
    split into N parts; the model trained on part 0 with every token is the reference for part 1,
    the reference continued on cleaned part 1 is the reference for part 2, and so on (part 0
    keeps every token). A record left with no kept token goes to the ledger as `no_tokens_kept`
    (`empty: drop`, the default) or trains whole (`empty: keep_whole`)."""

    scope = "dataset"
    # 2: a record left with no kept token goes to the ledger (was: an all-zero mask);
    # 3: scored on packed rows at the response positions only
    version = "3"

    class Config(StepConfig):
        model: str = Field(SMOLLM2, description="the base model: the one `curate train` will fine-tune")
        reference: Optional[str] = Field(None, description="the reference model (folder or Hub id)")
        reference_adapter: Optional[str] = Field(None, description="a LoRA adapter over `model` as the reference")
        warmup: Optional[Warmup] = Field(None, description="or build the reference: a warm-up training of `model`")
        rounds: int = Field(1, ge=1, description="self-evolving: parts trained in turn, each the next one's "
                                                 "reference (no other reference needed)")
        round_epochs: float = Field(1.0, gt=0, description="self-evolving: epochs of training on each part")
        round_lr: float = Field(2e-4, gt=0, description="self-evolving: learning rate of each round")
        empty: Literal["drop", "keep_whole"] = Field("drop", description="a record with no kept token: to the "
                                                                         "ledger, or trained whole")
        mode: Literal["reference", "random"] = Field("reference", description="scored masks, or random ones")
        keep: float = Field(0.6, gt=0, le=1, description="share of response tokens that keep their loss")
        scope: Literal["global", "per_record"] = Field("global", description="where the share is taken")
        max_tokens: int = Field(2048, ge=16, description="prompt + response tokens read (prompts cut from the left)")
        device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")
        dtype: Literal["fp32", "bf16"] = Field("fp32", description="scoring precision. bf16 autocast is 2x "
                                               "faster on a CPU with bf16 matmuls, but its rounding is the size of "
                                               "the scores: against fp32 it flipped 27% of keep/drop decisions "
                                               "(benchmarks/RESULTS.md)")

        @model_validator(mode="after")
        def _one_reference(self):
            given = [k for k in ("reference", "reference_adapter", "warmup") if getattr(self, k)]
            if self.mode == "reference" and self.rounds == 1 and len(given) != 1:
                raise ValueError("mode: reference needs exactly one of `reference`, `reference_adapter` and "
                                 f"`warmup` (or `rounds` > 1){f'; given: {given}' if given else ''}")
            if self.rounds > 1 and (given or self.mode == "random"):
                raise ValueError("`rounds` > 1 builds its own references: give no `reference`, `reference_adapter` "
                                 "or `warmup`, and mode: reference")
            return self

    def decide(self, data: pl.LazyFrame) -> Decisions:
        from ...models.lm import load_tokenizer
        cfg = self.config
        frame = conversation_frame(data)
        tokenizer = load_tokenizer(cfg.model)
        items, unscored = _response_tokens(tokenizer, frame.to_dicts())
        if cfg.mode == "reference":              # a response must fit the window with a token of prompt
            long = [k for k, (_, answer) in items.items() if len(answer) >= cfg.max_tokens]
            for k in long:
                del items[k]
            if long:
                unscored[f"response of max_tokens ({cfg.max_tokens}) tokens or more"] = len(long)
        extra: dict = {}
        if cfg.mode == "random":
            rng = np.random.default_rng(self.ctx.seed)
            scores, cut = {k: rng.random(len(answer)) for k, (_, answer) in items.items()}, 0
            masks = _select(scores, cfg.keep, cfg.scope)
        elif cfg.rounds > 1:
            masks, cut, extra = self._self_evolving(tokenizer, frame, items)
        else:
            reference = cfg.reference, cfg.reference_adapter
            if cfg.warmup:
                w = cfg.warmup
                adapter = train_adapter(_step_path(w.data, self.ctx.base_dir), cfg.model, max_tokens=w.max_tokens,
                                        epochs=w.epochs, lr=w.lr, seed=self.ctx.seed, max_len=w.max_len,
                                        label="score.token_quality: warm-up reference")
                reference, extra = (None, str(adapter)), {"warmup_adapter": str(adapter)}
            scores, cut = self._scores(tokenizer, items, *reference)
            masks = _select(scores, cfg.keep, cfg.scope)
        stats = {"mode": cfg.mode, "scope": cfg.scope, "records_masked": len(masks),
                 "response_tokens": sum(len(m) for m in masks.values()),
                 "tokens_kept": int(sum(int(m.sum()) for m in masks.values())),
                 "unscored": unscored, "prompts_cut_to_window": cut,
                 **extra}
        empty = [k for k, m in masks.items() if not m.any()]
        stats["no_tokens_kept"] = {"records": len(empty), "action": cfg.empty}
        drop = np.zeros(frame.height, dtype=bool)
        drop[empty] = cfg.empty == "drop"
        masks = {k: m for k, m in masks.items() if m.any()}     # the rest trains whole (null mask) or is dropped
        mask_column = [masks[k].astype(int).tolist() if k in masks else None for k in range(frame.height)]
        kept = [float(masks[k].mean()) if k in masks else None for k in range(frame.height)]
        columns = {"loss_mask": pl.Series("loss_mask", mask_column, dtype=pl.List(pl.Int8)),
                   "score_token_kept": pl.Series("score_token_kept", kept, dtype=pl.Float64)}
        if not drop.any():
            return Decisions(keep_all(frame, columns), stats=stats)
        details = ["every response token scored below the kept share" if d else None for d in drop]
        return Decisions(verdicts(frame, drop, "no_tokens_kept", details, columns), stats=stats)

    def _self_evolving(self, tokenizer, frame: pl.DataFrame, items: dict) -> tuple[dict, int, dict]:
        """Part 0 trains with every token; each later part is scored with the base against the
        model of the round before, cleaned, and continues that model's training."""
        from pathlib import Path
        cfg = self.config
        parts = np.array_split(np.arange(frame.height), cfg.rounds)
        folder = Path(self.ctx.cache_dir or ".") / "token_quality"
        masks: dict[int, np.ndarray] = {k: np.ones(len(items[k][1]), dtype=bool) for k in parts[0] if k in items}
        adapter, cut, adapters = None, 0, []
        for r, part in enumerate(parts):
            if r:
                mine = {k: items[k] for k in part if k in items}
                scores, c = self._scores(tokenizer, mine, None, str(adapter))
                cut += c
                masks.update(_select(scores, cfg.keep, cfg.scope))
            if r == len(parts) - 1:
                break
            data = _part_folder(folder / f"round-{r}", frame[part], {k - int(part[0]): masks[k]
                                                                     for k in part if k in masks})
            adapter = train_adapter(str(data), cfg.model, max_tokens=None, epochs=cfg.round_epochs,
                                    lr=cfg.round_lr, seed=self.ctx.seed, max_len=1024,
                                    init_adapter=str(adapter) if adapter else None,
                                    label=f"score.token_quality: round {r + 1} of {cfg.rounds}")
            adapters.append(str(adapter))
        return masks, cut, {"rounds": cfg.rounds, "round_adapters": adapters,
                            "round_records": [int(len(p)) for p in parts]}

    def _scores(self, tokenizer, items: dict[int, tuple[list[int], list[int]]], reference: Optional[str],
                reference_adapter: Optional[str]) -> tuple[dict[int, np.ndarray], int]:
        """loss_base - loss_ref per response token (= logp_ref - logp_base), the first token 0."""
        from ...models.greedy import fit_window
        from ...models.lm import auto_device, load_for_eval, load_model
        from ...models.packed_scoring import packed_continuation_logprobs
        cfg = self.config
        device = auto_device(cfg.device)
        keys = list(items)
        if not keys:
            return {}, 0
        prompts, cut = fit_window([items[k][0] for k in keys], [len(items[k][1]) for k in keys], cfg.max_tokens)
        pairs = list(zip(prompts, [items[k][1] for k in keys]))
        base = load_model(cfg.model, device).eval()
        base_lp = packed_continuation_logprobs(base, pairs, cfg.dtype)
        del base
        if reference_adapter:
            ref_model, _ = load_for_eval(cfg.model, reference_adapter, device)
        else:
            same_tokenizer(tokenizer, reference, cfg.model)
            ref_model = load_model(reference, device).eval()
        if ref_model.get_input_embeddings().num_embeddings < len(tokenizer):
            raise ConfigError(f"score.token_quality: the reference's vocabulary is smaller than {cfg.model}'s")
        ref_lp = packed_continuation_logprobs(ref_model, pairs, cfg.dtype)
        out = {}
        for k, b, r in zip(keys, base_lp, ref_lp):
            score = (r - b).astype(np.float64)
            score[0] = 0.0
            out[k] = score
        return out, cut


def same_tokenizer(tokenizer, reference: str, model: str) -> None:
    """A reference that splits text differently scores other tokens than the mask is for: refused."""
    from ...models.lm import load_tokenizer
    other = load_tokenizer(reference)
    if other.get_vocab() != tokenizer.get_vocab():
        raise ConfigError(f"score.token_quality: the reference {reference} has another tokenizer than {model}; "
                          "per-token scores need the same tokens (use a reference from the same family, or "
                          "`reference_adapter` / `warmup`)")


def _step_path(value: str, base_dir: Optional[str]) -> str:
    """A DATA path in a step config (a file, glob or run folder), found by the rule every recipe
    path follows (`io.files.search_roots`: the working directory, then the recipe's folder); as
    given when it is in neither (a glob, or an error `curate train` will name)."""
    from pathlib import Path
    from ...io.files import search_roots
    path = Path(value).expanduser()
    return next((str(root / path) for root in search_roots(base_dir) if (root / path).exists()), value)


def _part_folder(folder, part: pl.DataFrame, masks: dict[int, np.ndarray]):
    """One round's records with their masks, as a folder `curate train` reads (`final.parquet`)."""
    folder.mkdir(parents=True, exist_ok=True)
    column = [masks[k].astype(int).tolist() if k in masks else None for k in range(part.height)]
    part.drop("_order").with_columns(pl.Series("loss_mask", column, dtype=pl.List(pl.Int8))) \
        .write_parquet(folder / "final.parquet")
    return folder


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
