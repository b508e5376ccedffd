"""What the compose steps share: which records get a composed version (a seeded share by hash
rank, independent of batch order), a random stream per record, caps per task, and how derived
records and declined attempts become rows.

Caps are a rule over the input order: the chosen records are composed in input order, in blocks
of `batch_size` input positions (block k holds positions k*batch_size … (k+1)*batch_size-1), and a
task's count grows as the records before it take it. Any engine gets the same records.

A derived record copies its parent's columns, then replaces instruction and response, gets its
own content id, `parent_ids = [parent id]` and an origin that says how it was made. The parent is
always kept: composing adds records, it never removes any.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from typing import Optional

import polars as pl
from pydantic import Field, field_validator

from . import bank
from .phrasing import already_sequential
from ...models.generate import GeneratorConfig
from ...records import content_id
from ...ledger import STEP_ROW_SCHEMA
from ..base import Step, StepConfig
from ..common.hash_rank import keep_mask, thresholds
from ..decisions import ORDER, Decisions, keep_all, with_parent_order


class ComposeConfig(StepConfig):
    ratio: float = Field(0.5, gt=0, le=1, description="share of records that get a composed version")
    max_per_task: Optional[int] = Field(None, ge=1, description="cap on composed records per intermediate task")
    seed: Optional[int] = Field(None, description="overrides the recipe seed")
    generator: Optional[GeneratorConfig] = Field(None, description="model for generator mode / model-made steps")
    tasks: list[str] = Field(default_factory=list, description="bank tasks to use (default: all)")

    @field_validator("tasks")
    @classmethod
    def _known(cls, v):
        bank.get(v)
        return v


class ComposeStep(Step):
    """Base of `compose.*`: subclasses set `tag_column`, may `prepare(data)` what they need from the
    whole input, and implement `compose(rows) -> (added, declined)` over a block of chosen rows."""

    scope = "dataset"
    tag_column: str = ""

    def prepare(self, data: pl.LazyFrame) -> None:
        """Called once before any block is composed (bank tasks, prompt files, a pool of instructions)."""

    def decide(self, data: pl.LazyFrame) -> Decisions:
        cfg = self.config
        self.seed = self.ctx.seed if cfg.seed is None else cfg.seed
        self.used: Counter = Counter()
        self._generator = None
        self.prepare(data)
        total = data.select(pl.len()).collect().item()
        limits = thresholds(data, None, {None: int(round(total * cfg.ratio))}, self.seed)
        schema = data.collect_schema()
        tag_missing = self.tag_column not in schema.names()
        if tag_missing:
            data = data.with_columns(pl.lit(None, dtype=pl.Utf8).alias(self.tag_column))
        keys = data.select(ORDER, "id", "origin").collect()
        chosen_at = keys.filter(keep_mask(keys, None, limits, self.seed))[ORDER]
        chosen = data.filter(pl.col(ORDER).is_in(chosen_at.implode())).collect()
        out_schema = dict(data.collect_schema())
        added, refused, how = [], [], Counter()
        for part in _blocks(chosen, self.ctx.batch_size):     # frames per block keep memory compact
            made, failed = self.compose(part.to_dicts())
            how.update(row[self.tag_column] for row in made)
            added += [f for f in [with_parent_order(made, out_schema)] if f is not None]
            refused += [f for f in [with_parent_order(failed, STEP_ROW_SCHEMA)] if f is not None]
        stats = {"selected": chosen.height, "added": sum(f.height for f in added),
                 "declined": sum(f.height for f in refused), **{f"added_{h}": n for h, n in how.items()}}
        columns = {self.tag_column: pl.Series(self.tag_column, [None] * keys.height, dtype=pl.Utf8)} \
            if tag_missing else None
        return Decisions(keep_all(keys, columns), added=pl.concat(added) if added else None,
                         declined=pl.concat(refused) if refused else None, stats=stats)

    @property
    def generator(self):
        if self._generator is None:
            from ...models.generate import Generator
            self._generator = Generator(self.config.generator or GeneratorConfig())
        return self._generator

    def record_rng(self, record_id: str) -> random.Random:
        digest = hashlib.blake2b(f"{self.seed}\x1f{record_id}".encode(), digest_size=8).digest()
        return random.Random(int.from_bytes(digest, "little"))

    def capped(self, task: str) -> bool:
        cap = self.config.max_per_task
        return cap is not None and self.used[task] >= cap

    def compose(self, rows: list[dict]) -> tuple[list[dict], list[dict]]:
        raise NotImplementedError

    @staticmethod
    def screen(rows: list[dict]) -> tuple[list[dict], list[dict]]:
        """Rows to compose, and ledger rows for those whose instruction already has steps."""
        todo, refused = [], []
        for row in rows:
            multi = already_sequential(row["instruction"])
            if multi:
                refused.append(declined(row, "already_sequential", multi))
            else:
                todo.append(row)
        return todo, refused


def derived(parent: dict, instruction: str, response: str, how: str, tag_column: str) -> dict:
    """A new record made from `parent`: new instruction and response, lineage and a tag saying `how`."""
    row = dict(parent)
    row.update(instruction=instruction, response=response, parent_ids=[parent["id"]],
               origin=f"{parent.get('origin') or ''}+{how}", **{tag_column: how})
    row["id"] = content_id(instruction, row.get("context"), response, row.get("system"), row.get("history"))
    return row


def declined(parent: dict, reason: str, detail: str) -> dict:
    """A ledger row for a composed record that was not built; its parent stays in the data."""
    return {"id": parent["id"], "reason": reason, "detail": f"not composed (record kept): {detail}"[:500],
            "origin": parent.get("origin"), ORDER: parent.get(ORDER)}


def _blocks(chosen: pl.DataFrame, batch_size: int) -> list[pl.DataFrame]:
    """The chosen rows in input order, one frame per block of `batch_size` input positions."""
    if chosen.height == 0:
        return []
    block = (pl.col(ORDER) // batch_size).alias("_block")
    return chosen.with_columns(block).partition_by("_block", maintain_order=True, include_key=False)
