"""The log-likelihood scorers of eval suites: `choice` (multiple choice) and `ref_loss`.

- `choice`: each option's log-likelihood after the prompt, as lm-eval-harness scores multiple
  choice. Per item: `acc` (the gold option has the highest summed log-probability; this is the
  item's `score`), `acc_norm` (highest log-probability per byte of the option text) and `margin`
  (the gold option's log-probability minus the best other option's: a continuous score that moves
  with small changes in the model long before the argmax does).
- `ref_loss`: the mean negative log-likelihood per token of the reference answer after the prompt
  (lower is better; the summary says so and `curate compare` reads "better" accordingly).

Options come from `options_field` (a list, a JSON list, or text split by `options_sep`), from
`options_fields` (one column per option), or for
built-in suites from the item's "(A) ..." lines (`options: letters`) or the suite's distinct
answers (`options: answers`); the gold option is `gold_field` (its index or its text), else the
item's response.
"""

from __future__ import annotations

import json
import re

import numpy as np

from ..errors import ConfigError

LETTER_LINE = re.compile(r"^\(([A-Z])\)\s", re.MULTILINE)
MAX_ANSWER_OPTIONS = 10         # more distinct answers than this is not a closed set of options


def item_options(record: dict, spec, answers: list[str]) -> list[str]:
    if spec.options_fields:
        return [str(record.get(f)).strip() for f in spec.options_fields if str(record.get(f) or "").strip()]
    if spec.options_field:
        value = record.get(spec.options_field)
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else value.split(spec.options_sep or "\n")
        return [str(v).strip() for v in (value or []) if str(v).strip()]
    text = "\n".join(str(record.get(k) or "") for k in ("instruction", "context"))
    letters = [f"({letter})" for letter in LETTER_LINE.findall(text)]
    if spec.options == "letters" or (spec.options == "auto" and len(letters) >= 2):
        return letters
    if spec.options in ("answers", "auto"):
        return answers
    return []


def gold_index(record: dict, spec, options: list[str]) -> int | None:
    value = record.get(spec.gold_field) if spec.gold_field else record.get("response")
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()
                                           and not any(o.isdigit() for o in options)):
        k = int(value)
        return k if 0 <= k < len(options) else None
    text = str(value or "").strip()
    return next((k for k, o in enumerate(options) if o == text), None)


def checked_items(records: list[dict], spec) -> list[tuple[list[str], int] | None]:
    """(options, gold index) per item; a clear error on the first item without them. An item
    whose options are not distinct texts cannot be scored (the "choice" would be a tie): None, for
    the caller to count as skipped."""
    groups: dict[str, set] = {}
    for r in records:                     # `options: answers`: the distinct answers of each group
        groups.setdefault(str(r.get(spec.group_by)) if spec.group_by else "", set()).add(
            str(r.get("response") or "").strip())
    out = []
    for r in records:
        group = str(r.get(spec.group_by)) if spec.group_by else ""
        answers = sorted(groups[group] - {""}) if len(groups[group]) <= MAX_ANSWER_OPTIONS else []
        options = item_options(r, spec, answers)
        gold = gold_index(r, spec, options)
        if len(options) < 2 or gold is None:
            raise ConfigError(f"{spec.where()}: item {r.get('origin')} has "
                              + (f"{len(options)} option(s)" if len(options) < 2 else
                                 f"no gold option among {options} (gold: {r.get(spec.gold_field or 'response')!r})")
                              + "; a choice suite needs options_field (or options: letters/answers) and gold_field")
        out.append((options, gold) if len(set(options)) == len(options) else None)
    return out


def score_choice(model, tokenizer, prompts: list[list[int]], items: list[tuple[list[str], int]],
                 progress=None) -> dict[str, list]:
    from ..models.loglik import options_logprobs
    acc, acc_norm, margin, chosen = [], [], [], []
    for k, (prompt, (options, gold)) in enumerate(zip(prompts, items)):
        encoded = [tokenizer(o, add_special_tokens=False)["input_ids"] for o in options]
        if not all(encoded):
            raise ConfigError(f"an option of item {k} tokenizes to nothing: {options}")
        s = np.array([float(lp.sum()) for lp in options_logprobs(model, tokenizer.pad_token_id, prompt, encoded)])
        per_byte = s / np.array([max(1, len(o.encode("utf-8"))) for o in options])
        if progress:
            progress(1)
        acc.append(float(int(np.argmax(s)) == gold))
        acc_norm.append(float(int(np.argmax(per_byte)) == gold))
        margin.append(float(s[gold] - np.max(np.delete(s, gold))))
        chosen.append(options[int(np.argmax(s))])
    return {"score": acc, "acc_norm": acc_norm, "margin": margin, "prediction": chosen}


def score_ref_loss(model, tokenizer, prompts: list[list[int]], references: list[str], progress=None) -> dict[str, list]:
    from ..models.loglik import continuation_logprobs
    pairs = []
    for k, (prompt, ref) in enumerate(zip(prompts, references)):
        ids = tokenizer(ref, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ConfigError(f"item {k} has an empty reference: ref_loss needs a reference answer")
        pairs.append((prompt, ids))
    logprobs = continuation_logprobs(model, tokenizer.pad_token_id, pairs, progress=progress)
    return {"score": [float(-lp.mean()) for lp in logprobs], "prediction": [""] * len(pairs)}


LOGLIK_SCORERS = {"choice", "ref_loss"}
LOWER_IS_BETTER = {"ref_loss"}
