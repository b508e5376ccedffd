"""How a step and the original task become one sequential instruction, and how their answers
become one response.

Connectives vary ("First, … Then …", "Step 1: … Step 2: …") because SIT found that a single
template teaches the template; each position has one held-out connective that only eval suites use.
"""

from __future__ import annotations

import random
import re

from .bank import TARGET_FIELD, IntermediateTask, task_params

PREFIX = ("First, {step}. Then {task}", "Step 1: {Step}.\nStep 2: {Task}", "{Step}, and then {task}",
          "Before answering, {step}. After that, {task}")
SUFFIX = ("{Task_}\nThen {step}.", "{Task_} After that, {step}.", "Step 1: {Task}\nStep 2: {Step}.",
          "{Task_} Once you have done that, {step}.")
HELD_OUT = {"prefix": "To start, {step}. Next, {task}", "suffix": "{Task_} Next, {step}."}
ANSWER_SEPARATOR = "\n\n"

MULTI_STEP = re.compile(
    r"\b(and then|then,? (?:answer|write|give|list|explain|translate|summari[sz]e)|after that|afterwards|"
    r"followed by|step \d|finally,)\b|(?m:^\s*(?:\d+[.)]|-)\s.*\n\s*(?:\d+[.)]|-)\s)", re.IGNORECASE)


def already_sequential(instruction: str) -> str | None:
    """Why an instruction already holds several steps (None if it does not): composing another step
    onto it would make a three-step record whose first split nobody checked."""
    m = MULTI_STEP.search(instruction or "")
    return None if m is None else f"instruction already has steps ({m.group(0).strip()[:30]!r})"


def _lower_first(text: str) -> str:
    """Lower-case the first letter for mid-sentence use, unless it starts an acronym or is 'I'."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _ended(text: str) -> str:
    text = text.rstrip()
    return text if text[-1:] in ".?!:\"')" else text + "."


def join_instruction(task: str, step: str, position: str, rng: random.Random | None = None,
                     held_out: bool = False) -> str:
    """The sequential instruction: `step` (an imperative clause) before or after `task`."""
    options = (HELD_OUT[position],) if held_out or rng is None else (PREFIX if position == "prefix" else SUFFIX)
    template = options[0] if len(options) == 1 else rng.choice(options)
    task = task.strip()
    return template.format(step=step, Step=upper_first(step), task=_lower_first(task), Task=upper_first(task),
                           Task_=_ended(upper_first(task)))


def join_answers(answers: list[str]) -> str:
    """The sequential response: each step's answer in order, separated by a blank line."""
    return ANSWER_SEPARATOR.join(a.strip() for a in answers)


def chain_instruction(instructions: list[str]) -> str:
    """CoI's instruction format: "<instruction 1> and then <instruction 2> [and then ...]"."""
    return " and then ".join(i.strip() for i in instructions)


def sequential_version(record: dict, task: IntermediateTask, position: str, target: str,
                       rng: random.Random | None = None, held_out: bool = False) -> tuple[str, list[str]]:
    """`record`'s instruction with `task` added before or after it, and the step answers in order.
    The caller has checked that the task applies (`task.check`). Without `rng` (or with `held_out`)
    the held-out phrasing and connective are used: the form eval suites ask in."""
    text = record.get(TARGET_FIELD[target])
    params = task_params(task, text, target, rng)
    step = task.phrase(target, params, rng, held_out)
    answer = task.answer(text, params)
    steps = [answer, record["response"]] if position == "prefix" else [record["response"], answer]
    return join_instruction(record["instruction"], step, position, rng, held_out), steps
