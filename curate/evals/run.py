"""`curate eval`: generate answers for a suite, score them, write per-item predictions and a summary.

    OUT/predictions.parquet   id, origin, group, prompt, prediction, answers, score
    OUT/summary.json          suite, model, adapter, items, score (mean), per group, seconds

`curate sql OUT` works on the folder (the predictions are a table like any run stage).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import ConfigError
from ..records import to_messages
from ..models.greedy import fit_window, generate, model_window, render_prompts
from ..models.lm import auto_device, load_for_eval
from .scorers import SCORERS
from .loglik_scoring import LOGLIK_SCORERS, LOWER_IS_BETTER, checked_items, score_choice, score_ref_loss
from .suites import SuiteSpec, load_suite, memory, references


def suite_records(spec: SuiteSpec, limit: int | None = None) -> list[dict]:
    """The suite's items; with a limit (the suite's `limit_per_group`, else `limit`), the first N per group."""
    from pydantic import ValidationError
    from ..io.load import read_inputs
    from ..io.spec import InputSpec
    specs = []
    for i, item in enumerate(spec.inputs):
        try:
            specs.append(InputSpec(**item))
        except ValidationError as exc:
            raise ConfigError(f"suite {spec.name}: inputs[{i}]: {exc}") from None
    frame = read_inputs(specs)
    if spec.require_instruction and frame.height:
        empty = frame.filter(pl.col("instruction").fill_null("").str.strip_chars() == "")
        if empty.height:
            raise ConfigError(f"suite {spec.name}: {empty.height} items have no instruction, e.g. "
                              f"{empty['origin'][0]} (Instruction-Induction reads its instructions from "
                              "../../annotations/<task>.json beside the data: is that folder there?)")
    if spec.sequential:
        from .sequential_items import sequential_item
        items = [s for s in map(sequential_item, frame.to_dicts()) if s is not None]
        frame = pl.DataFrame(items, infer_schema_length=None) if items else frame.clear()
    if frame.height == 0:
        raise ConfigError(f"suite {spec.name}: no items")
    per = spec.limit_per_group or limit
    if per is not None and per < 1:
        raise ConfigError(f"limit {per}: evaluating no item measures nothing; give a positive number of items")
    if per is not None:
        frame = (frame.filter(pl.int_range(pl.len()).over(spec.group_by) < per) if spec.group_by
                 else frame.head(per))
    return frame.to_dicts()


def _step_summary(per_step: list[list[float]]) -> dict:
    """Mean score of each step position over the items that have it, and the share of items with
    every step right."""
    width = max(len(s) for s in per_step)
    return {"steps": {f"step_{k + 1}": round(sum(s[k] for s in per_step if len(s) > k) /
                                             max(1, sum(len(s) > k for s in per_step)), 4) for k in range(width)},
            "all_steps": round(sum(min(s) for s in per_step) / len(per_step), 4)}


def _longest_option(tokenizer, items, records, spec) -> list[int]:
    """Tokens of each item's longest option (room kept after the prompt); an option that
    tokenizes to nothing cannot be scored: an error naming the suite and the item."""
    out = []
    for (options, _), record in zip(items, records):
        lengths = [len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in options]
        if min(lengths) == 0:
            raise ConfigError(f"{spec.where()}: item {record.get('origin')}: option "
                              f"{options[lengths.index(0)]!r} tokenizes to nothing")
        out.append(max(lengths))
    return out


def _reference_lengths(tokenizer, refs, records, spec) -> list[int]:
    out = []
    for ref, record in zip(refs, records):
        n = len(tokenizer(ref[0], add_special_tokens=False)["input_ids"]) if ref else 0
        if n == 0:
            raise ConfigError(f"{spec.where()}: item {record.get('origin')} has an empty reference: ref_loss needs "
                              "the reference answer (the response)")
        out.append(n)
    return out


def evaluate(model: str, suite: str, out: str | Path, adapter: str | None = None, device: str = "auto",
             limit: int | None = None, batch_size: int = 16, loaded=None, progress: bool = False) -> dict:
    """Run `suite` on `model` (+ `adapter`); `loaded` reuses an already loaded (model, tokenizer).
    With `progress`, a bar on a terminal and a line per stage when piped."""
    from ..progress import Progress
    spec = load_suite(suite)
    device = auto_device(device)
    records = suite_records(spec, limit)
    bar = Progress(enabled=progress)
    if loaded is None:
        bar.note(f"eval {spec.name}: loading {model}" + (f" with adapter {adapter}" if adapter else ""))
    lm, tokenizer = loaded or load_for_eval(model, adapter, device)
    conversations = []
    for r in records:
        if spec.indicator:                   # where mark.context_indicator puts it: the end of the user turn
            from ..steps.mark.context_indicator import with_indicator
            r = {**r, **dict(zip(("instruction", "context"), with_indicator(r.get("instruction"), r.get("context"),
                                                                            spec.indicator)[:2]))}
        messages = to_messages({**r, "response": ""})[:-1]
        if spec.system and not r.get("system"):
            messages = [{"role": "system", "content": spec.system}] + messages
        conversations.append(messages)
    refs = [references(r, spec) for r in records]
    loglik = spec.scorer in LOGLIK_SCORERS
    skipped: dict[str, int] = {}
    items = None
    if spec.scorer == "choice":
        checked = checked_items(records, spec)
        keep = [k for k, item in enumerate(checked) if item is not None]
        if len(keep) < len(records):        # e.g. a ConflictQA item whose two answers are the same text
            skipped["options not distinct"] = len(records) - len(keep)
            records, conversations, refs = ([seq[k] for k in keep] for seq in (records, conversations, refs))
        items = [checked[k] for k in keep]
    prompts = render_prompts(tokenizer, conversations)
    reserves = (_longest_option(tokenizer, items, records, spec) if items is not None else
                _reference_lengths(tokenizer, refs, records, spec) if loglik else [spec.max_new_tokens] * len(prompts))
    try:
        prompts, truncated = fit_window(prompts, reserves, model_window(lm))
    except ValueError as exc:
        raise ConfigError(f"{spec.where()}: {exc}") from None
    bar.note(f"eval {spec.name}: " + ("scoring" if loglik else "generating") + f" {len(records)} answers on {device}"
             + (f" ({truncated} prompts longer than the model's window, cut from the left)" if truncated else ""))
    start = time.perf_counter()
    extra_columns: dict = {}
    with bar:
        task = bar.task(f"eval {spec.name}", total=len(records))
        advance = lambda n: bar.advance(task, n)  # noqa: E731
        if loglik:
            scored = (score_choice(lm, tokenizer, prompts, items, advance) if spec.scorer == "choice" else
                      score_ref_loss(lm, tokenizer, prompts, [r[0] for r in refs], advance))
            predictions = scored.pop("prediction")
            extra_columns = scored
        else:
            predictions = generate(lm, tokenizer, conversations, spec.max_new_tokens, batch_size, spec.stop,
                                   progress=advance, prompts=prompts)
        bar.done(task)
    seconds = time.perf_counter() - start
    per_step = None
    if loglik:
        scores = extra_columns.pop("score")
        if items is not None:
            refs = [[options[gold]] for options, gold in items]
    elif spec.scorer == "steps_in_order":      # each step scored, not only the item; the item is their mean
        from .scorers import step_matches
        per_step = [step_matches(p, ref) for p, ref in zip(predictions, refs)]
        scores = [sum(s) / len(s) if s else 0.0 for s in per_step]
    else:
        scorer = SCORERS[spec.scorer]
        scores = [scorer(p, ref, memory(r, spec)) if spec.scorer == "faithfulness" else scorer(p, ref)
                  for p, ref, r in zip(predictions, refs, records)]
    groups = [str(r.get(spec.group_by)) if spec.group_by else spec.name for r in records]
    frame = pl.DataFrame({"id": [r["id"] for r in records], "origin": [r["origin"] for r in records],
                          "group": groups, "prompt": [c[-1]["content"] for c in conversations],
                          "prediction": predictions, "answers": refs, "score": scores})
    extra = {}
    for name, values in extra_columns.items():      # choice: acc_norm and margin beside acc
        frame = frame.with_columns(pl.Series(name, values, dtype=pl.Float64))
        extra[name] = round(float(np.mean(values)), 4)
    if spec.scorer in LOWER_IS_BETTER:
        extra["lower_is_better"] = True
    if per_step is not None:
        frame = frame.with_columns(pl.Series("step_scores", per_step, dtype=pl.List(pl.Float64)))
        extra = _step_summary(per_step)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out / "predictions.parquet")
    per_group = {g: round(float(s), 4) for g, s in frame.group_by("group").agg(pl.col("score").mean()).sort("group").rows()}
    summary = {"suite": spec.name, "scorer": spec.scorer, "model": model, "adapter": adapter, "device": device,
               "items": len(records), "score": round(float(frame["score"].mean()), 4), "groups": per_group,
               "generation_seconds": round(seconds, 2), "items_per_s": round(len(records) / max(seconds, 1e-9), 2),
               "prompts_cut_to_window": truncated, **({"skipped": skipped} if skipped else {}), **extra}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
