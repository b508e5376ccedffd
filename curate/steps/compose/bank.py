"""The bank of intermediate tasks whose answers are computed exactly, so sequential and chained
records need no model: repeat, count, case changes, first words, numbers, sorting, reversing,
JSON and bullet formatting.

Each task says which texts it applies to (`check` gives the reason when it does not; chains use
the same check on the previous output), and how it is phrased: several training phrasings per
target (SIT varies the verbalisation of the intermediate step) and one held-out phrasing that only
eval suites use, so a score measures following the step, not recalling a template.

Targets: `input` (the record's input/context, as a step before the task), `request` (the
instruction itself, before), `answer` (the record's response, as a step after the task), and
`text` (a standalone chain task applied to the previous task's output).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Callable

from .text_kind import NUMBERS, kind, list_items, sentences

TARGET_FIELD = {"input": "context", "request": "instruction", "answer": "response"}   # record column per target
TARGET_WORDS = {"input": "the input", "request": "the request", "answer": "your answer", "text": "the text"}
MAX_CHARS = 2000       # longer texts make copy-style steps a test of length, not of following steps


@dataclass(frozen=True)
class IntermediateTask:
    name: str
    doc: str
    targets: frozenset[str]
    phrasings: tuple[str, ...]         # imperative clauses with {target} (and task parameters)
    held_out: str                      # the phrasing eval suites use, never used for training data
    compute: Callable[[str, dict], str]
    applies: Callable[[str], str | None]   # None when the task applies, else the reason it does not
    params: Callable[[str, random.Random], dict] = field(default=lambda text, rng: {})

    def check(self, text: str | None, target: str) -> str | None:
        if target not in self.targets:
            return f"{self.name} does not apply to the {target}"
        if not text or not text.strip():
            return f"{self.name}: the {target} is empty"
        if len(text) > MAX_CHARS:
            return f"{self.name}: the {target} is over {MAX_CHARS} characters"
        return self.applies(text)

    def phrase(self, target: str, params: dict, rng: random.Random | None = None, held_out: bool = False) -> str:
        """The step as an imperative clause, e.g. "count the words in the input"."""
        template = self.held_out if held_out or rng is None else rng.choice(self.phrasings)
        return template.format(target=TARGET_WORDS[target], **params)

    def answer(self, text: str, params: dict) -> str:
        return self.compute(text, params)


def _words(text: str) -> list[str]:
    return text.split()


def _always(text: str) -> None:
    return None


def _has(pred: Callable[[str], bool], reason: str) -> Callable[[str], str | None]:
    return lambda text: None if pred(text) else reason


def _first_words_params(text: str, rng: random.Random) -> dict:
    return {"n": rng.randint(3, min(8, max(3, len(_words(text)) - 1)))}


def _bullet_items(text: str) -> list[str]:
    return list_items(text) or sentences(text)


BANK: dict[str, IntermediateTask] = {t.name: t for t in [
    IntermediateTask(
        "repeat_input", "Copy the input word for word (not a chain step: it would change nothing).",
        frozenset({"input"}),
        ("repeat {target} word for word", "copy {target} exactly as it is written", "write out {target} verbatim"),
        "reproduce {target} without changing anything",
        lambda text, p: text.strip(), _always),
    IntermediateTask(
        "repeat_request", "Restate the request (the instruction) word for word.", frozenset({"request"}),
        ("repeat {target} word for word", "restate {target} exactly as it was given", "copy {target} verbatim"),
        "reproduce {target} without changing anything",
        lambda text, p: text.strip(), _always),
    IntermediateTask(
        "count_words", "The number of whitespace-separated words.", frozenset({"input", "answer", "text"}),
        ("count the words in {target}", "say how many words {target} has", "give the word count of {target}"),
        "state the number of words in {target}",
        lambda text, p: str(len(_words(text))), _always),
    IntermediateTask(
        "uppercase", "The text in upper case.", frozenset({"input", "answer", "text"}),
        ("rewrite {target} in uppercase letters", "write {target} again in all capital letters",
         "convert {target} to uppercase"),
        "put {target} in capital letters only",
        lambda text, p: text.strip().upper(), _has(lambda t: any(c.islower() for c in t), "no lowercase letters")),
    IntermediateTask(
        "lowercase", "The text in lower case.", frozenset({"input", "answer", "text"}),
        ("rewrite {target} in lowercase letters", "write {target} again in all small letters",
         "convert {target} to lowercase"),
        "put {target} in small letters only",
        lambda text, p: text.strip().lower(), _has(lambda t: any(c.isupper() for c in t), "no uppercase letters")),
    IntermediateTask(
        "first_words", "The first n words (n from 3 to 8), punctuation kept.", frozenset({"input", "answer", "text"}),
        ("list the first {n} words of {target}", "write only the first {n} words of {target}",
         "copy the first {n} words of {target}"),
        "give the opening {n} words of {target}",
        lambda text, p: " ".join(_words(text)[:p["n"]]),
        _has(lambda t: len(_words(t)) > 3, "3 words or fewer"), _first_words_params),
    IntermediateTask(
        "extract_numbers", "Every number in order, comma-separated.", frozenset({"input", "answer", "text"}),
        ("list every number that appears in {target}, separated by commas",
         "extract the numbers in {target} as a comma-separated list", "write down the numbers found in {target}, "
         "separated by commas"),
        "give all numbers that occur in {target}, comma-separated",
        lambda text, p: ", ".join(NUMBERS.findall(text)), _has(lambda t: bool(NUMBERS.search(t)), "no numbers")),
    IntermediateTask(
        "sort_items", "The items of a list, sorted alphabetically (case-insensitive), one per line.",
        frozenset({"input", "answer", "text"}),
        ("sort the items of {target} alphabetically, one per line",
         "put the items in {target} in alphabetical order, one per line"),
        "arrange the items of {target} from A to Z, one per line",
        lambda text, p: "\n".join(sorted(list_items(text), key=str.casefold)),
        _has(lambda t: bool(list_items(t)), "not a list")),
    IntermediateTask(
        "reverse_words", "The words in reverse order (2 to 50 words).", frozenset({"input", "answer", "text"}),
        ("write the words of {target} in reverse order", "reverse the order of the words in {target}"),
        "give the words of {target} from last to first",
        lambda text, p: " ".join(reversed(_words(text))),
        _has(lambda t: 2 <= len(_words(t)) <= 50, "not 2 to 50 words")),
    IntermediateTask(
        "to_json", 'A JSON object {"<key>": text}, key "answer" for an answer, else "text".',
        frozenset({"input", "answer", "text"}),
        ('give {target} as a JSON object with the key "{key}"', 'format {target} as JSON: an object whose "{key}" '
         'field holds it', 'wrap {target} in a JSON object under the key "{key}"'),
        'return {target} as JSON with a single "{key}" field',
        lambda text, p: json.dumps({p["key"]: text.strip()}, ensure_ascii=False), _always),
    IntermediateTask(
        "bullet_list", "The items (or sentences) of a text as a bullet list, one '- ' line each.",
        frozenset({"input", "answer", "text"}),
        ("format the sentences of {target} as a bullet list", "turn {target} into a bullet list, one sentence per "
         "bullet"),
        "present {target} as bullet points, one sentence each",
        lambda text, p: "\n".join(f"- {s}" for s in _bullet_items(text)),
        _has(lambda t: 2 <= len(_bullet_items(t)) <= 12, "not 2 to 12 sentences or items")),
]}


def task_params(task: IntermediateTask, text: str, target: str, rng: random.Random) -> dict:
    params = task.params(text, rng)
    if task.name == "to_json":
        params["key"] = "answer" if target == "answer" else "text"
    return params


def accepts(task: IntermediateTask, value: str) -> bool:
    """Chain type check: can this task take `value` (a previous task's output) as its input?"""
    return kind(value) != "empty" and task.check(value, "text") is None


def get(names: list[str] | None) -> list[IntermediateTask]:
    """Bank tasks by name (all when `names` is empty), with an error naming the valid ones."""
    if not names:
        return list(BANK.values())
    unknown = [n for n in names if n not in BANK]
    if unknown:
        raise ValueError(f"unknown intermediate task(s) {', '.join(unknown)}; the bank has: {', '.join(BANK)}")
    return [BANK[n] for n in names]
