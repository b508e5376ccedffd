"""`compose.sequential`: sequential instructions (SIT, "Fine-tuning Large Language Models with
Sequential Instructions") built from single ones."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from . import bank, generator_mode
from .phrasing import join_answers, sequential_version
from ..base import register
from .shared import ComposeConfig, ComposeStep, declined, derived

TARGET_OF = {"prefix": ("input", "request"), "suffix": ("answer",)}


@register("compose.sequential")
class ComposeSequential(ComposeStep):
    """Add a sequential version of a share (`ratio`) of the records: an intermediate task before
    (`prefix`: on the input or the request) or after (`suffix`: on the answer) the original task,
    e.g. "First, repeat the input word for word. Then translate it to French." The response holds
    each step's answer in order, separated by a blank line. Originals are kept; new records carry
    `parent_ids` and `tag_sequential` (e.g. `prefix:count_words`).

    `mode: bank` (default) uses the intermediate-task bank, whose answers are computed exactly
    (no model, offline); tasks that do not apply to a record are skipped, and a record no task
    applies to goes to the ledger as `no_applicable_task` (the record itself stays).
    `mode: generator` runs the SIT pipeline with a model (`generator:`): classify, rewrite,
    regenerate the response; failures go to the ledger with their reason. Instructions that
    already have several steps are not composed (`already_sequential`)."""

    tag_column = "tag_sequential"

    files = ("prompts",)

    class Config(ComposeConfig):
        mode: Literal["bank", "generator"] = Field("bank", description="bank: exact intermediate tasks; "
                                                                        "generator: the SIT model pipeline")
        positions: list[Literal["prefix", "suffix"]] = Field(["prefix", "suffix"],
                                                             description="where the intermediate task goes")
        prompts: dict[str, str] = Field(default_factory=dict, description="generator mode: prompt files "
                                                                          "(classify, rewrite) replacing the built-in ones")

    def prepare(self, data) -> None:
        self.tasks = bank.get(self.config.tasks)
        if self.config.mode == "generator":
            self.prompts = generator_mode.load_prompts(self.config.prompts, self.ctx.base_dir)

    def compose(self, rows: list[dict]) -> tuple[list[dict], list[dict]]:
        added = []
        todo, refused = self.screen(rows)
        if self.config.mode == "generator":
            made, failed = generator_mode.run(todo, self.generator, self.prompts)
            added += [derived(row, new, response, f"generator:{method}", self.tag_column)
                      for row, method, new, response in made]
            refused += [declined(row, reason, detail) for row, reason, detail in failed]
            return added, refused
        for row in todo:
            made, refusal = self._from_bank(row)
            if made is not None:
                added.append(made)
            else:
                refused.append(refusal)
        return added, refused

    def _from_bank(self, row: dict) -> tuple[dict | None, dict | None]:
        """(the sequential record, None), or (None, the ledger row saying why no task applied)."""
        rng = self.record_rng(row["id"])
        options = []       # a random position first, then its (task, target) pairs in random order
        for position in rng.sample(self.config.positions, len(self.config.positions)):
            pairs = [(task, position, target) for task in self.tasks for target in TARGET_OF[position]
                     if target in task.targets]
            rng.shuffle(pairs)
            options += pairs
        reasons = []
        for task, position, target in options:
            if self.capped(task.name):
                reasons.append(f"{task.name}: cap reached")
                continue
            text = row.get(bank.TARGET_FIELD[target])
            problem = task.check(text, target)
            if problem:
                reasons.append(problem)
                continue
            instruction, steps = sequential_version(row, task, position, target, rng)
            self.used[task.name] += 1
            return derived(row, instruction, join_answers(steps), f"{position}:{task.name}", self.tag_column), None
        return None, declined(row, "no_applicable_task", "; ".join(dict.fromkeys(reasons)) or "no task selected")
