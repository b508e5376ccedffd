"""Automatic scorers for eval suites: each maps (prediction, reference item) to a score in [0, 1].

Normalisation follows the SQuAD evaluation script's convention (lowercase, drop punctuation and
the articles a/an/the, squeeze whitespace), so exact match and F1 agree with published numbers.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Callable

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def normalize(text: str) -> str:
    text = "".join(ch for ch in (text or "").lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


# "The output will be 47." / "Answer: Paris" / "The result is: 12": the span after a cue, to the
# end of its line. A small model states answers in sentences; exact match on the whole reply
# scored those as wrong, which made every small A/B read 0.0 -> 0.0.
_CUE = re.compile(r"(?:answer|output|result|solution)\s*(?:is|will be|would be|should be|=|:)\s*:?\s*(.+)", re.I)


def answer_candidates(pred: str) -> list[str]:
    """What a reply gives as its answer: the whole reply, its first line, the span after an answer
    cue ("the output will be ...", "answer: ...") on that first line, and the result after the last
    `=` of either (a worked equation). Only the first line:
    a reply that states two answers on two lines is not right because one of them is."""
    text = (pred or "").strip()
    first = text.split("\n", 1)[0].strip()
    found = [text, first]
    cue = _CUE.search(first)
    if cue:
        found.append(cue.group(1).strip().strip("\"'`").rstrip("."))
    for text in list(found[1:]):              # "1 + 20 = 21": the result of a worked equation
        if "=" in text:
            found.append(text.rsplit("=", 1)[1].strip().rstrip("."))
    return found


def exact_match(pred: str, refs: list[str]) -> float:
    """Right when the reply, its first line, or the answer after a cue equals a reference
    (SQuAD normalisation)."""
    wanted = {normalize(r) for r in refs}
    return float(any(normalize(c) in wanted for c in answer_candidates(pred)))


def token_f1(pred: str, ref: str) -> float:
    p, r = normalize(pred).split(), normalize(ref).split()
    common = Counter(p) & Counter(r)
    overlap = sum(common.values())
    if not p or not r:
        return float(p == r)
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(p), overlap / len(r)
    return 2 * precision * recall / (precision + recall)


def squad_f1(pred: str, refs: list[str]) -> float:
    return max(token_f1(pred, r) for r in refs)


def _number(text: str) -> float | None:
    """The answer number: after GSM8K's `####` when present, else the last number in the text."""
    if "####" in text:
        text = text.split("####")[-1]
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def numeric_match(pred: str, refs: list[str]) -> float:
    got = _number(pred)
    return float(got is not None and any(_number(r) is not None and abs(got - _number(r)) < 1e-6 for r in refs))


def multiple_choice(pred: str, refs: list[str], options: list[str] | None = None) -> float:
    """Right if the prediction names the reference option: its letter ("(B)", "B.") or its text."""
    p = pred.strip()
    letter = re.match(r"^\(?([A-Z])\)?(?:[.:)\s]|$)", p)
    for ref in refs:
        ref_letter = re.match(r"^\(?([A-Z])\)?$", ref.strip())
        if ref_letter and letter and letter.group(1) == ref_letter.group(1):
            return 1.0
        if normalize(p) == normalize(ref) or (options and normalize(p).startswith(normalize(ref))):
            return 1.0
    return 0.0


def rouge_l(pred: str, refs: list[str]) -> float:
    return max(_rouge().score(r, pred)["rougeL"].fmeasure for r in refs)


_ROUGE = None


def _rouge():
    global _ROUGE
    if _ROUGE is None:
        from rouge_score import rouge_scorer
        _ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return _ROUGE


def rouge_l_content(pred: str, refs: list[str]) -> float:
    """ROUGE-L after removing Chain-of-Instructions step labels ("Task 1 output and task 2 input:")
    from both sides: the content of a chained answer, not its format. A model that learns only the
    labels gains on `rouge_l` and not here."""
    from ..steps.compose.chain_format import LABEL
    return rouge_l(LABEL.sub(" ", pred), [LABEL.sub(" ", r) for r in refs])


def contains_all(pred: str, refs: list[str]) -> float:
    """Every reference string appears in the prediction (normalised)."""
    p = normalize(pred)
    return float(all(normalize(r) in p for r in refs))


def contains(pred: str, refs: list[str]) -> float:
    """Some reference answer appears in the prediction (normalised): the context-awareness paper's
    metric for extractive QA, which does not punish a correct answer given in a sentence."""
    p = normalize(pred)
    return float(any(normalize(r) and normalize(r) in p for r in refs))


def _first_position(text: str, phrases: list[str]) -> int | None:
    found = [m.start() for p in phrases if normalize(p)
             for m in [re.search(rf"\b{re.escape(normalize(p))}\b", text)] if m]
    return min(found) if found else None


def faithfulness(pred: str, refs: list[str], memory: list[str] | None = None) -> float:
    """Context faithfulness (ConflictQA): 1 if the answer gives the passage's answer (`refs`) before,
    or instead of, the model's memorised answer (`memory`); whole words, normalised."""
    p = normalize(pred)
    follows = _first_position(p, refs)
    recalls = _first_position(p, memory or [])
    return float(follows is not None and (recalls is None or follows < recalls))


def _squeeze(text: str) -> str:
    return " ".join((text or "").split())


def step_matches(pred: str, steps: list[str]) -> list[float]:
    """Per step, 1 if its answer appears in the prediction, as whole words, after the previous
    step's answer. Whitespace is squeezed (removed for JSON answers) and case ignored, except for
    an all-uppercase answer (an "in capitals" step), where case is the point."""
    text, pos, out = _squeeze(pred), 0, []
    compact = any(_squeeze(s).startswith("{") for s in steps)
    if compact:
        text = "".join(text.split())
    for step in steps:
        want = _squeeze(step).rstrip(".")
        if compact:
            want = "".join(want.split())
        exact_case = want.upper() == want and want.lower() != want
        pattern = (r"(?<!\w)" if want[:1].isalnum() else "") + re.escape(want) + (r"(?!\w)" if want[-1:].isalnum() else "")
        found = re.compile(pattern, 0 if exact_case else re.IGNORECASE).search(text, pos) if want else None
        out.append(float(found is not None))
        if found is not None:
            pos = found.end()
    return out


def steps_in_order(pred: str, refs: list[str]) -> float:
    """Share of the steps (`refs`, in order) whose answers the prediction gives in order."""
    matches = step_matches(pred, refs)
    return sum(matches) / len(matches) if matches else 0.0


SCORERS: dict[str, Callable[..., float]] = {
    "exact_match": exact_match, "squad_f1": squad_f1, "numeric": numeric_match,
    "multiple_choice": multiple_choice, "rouge_l": rouge_l, "contains_all": contains_all,
    "contains": contains,
    "faithfulness": faithfulness, "steps_in_order": steps_in_order, "rouge_l_content": rouge_l_content,
}
