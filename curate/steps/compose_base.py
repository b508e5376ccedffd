"""What the compose steps share: which records get a composed version (a seeded share by hash
rank, independent of batch order), a random stream per record, caps per task, and how derived
records and declined attempts become rows.

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

from ..compose import bank
from ..compose.phrasing import already_sequential
from ..models.generate import GeneratorConfig
from ..records import content_id
from .base import LEDGER_SCHEMA, Result, Step, StepConfig
from .hash_rank import keep_mask, thresholds


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
    """Base of `compose.*`: subclasses set `tag_column` and implement `compose(rows) -> (added, declined)`."""

    scope = "dataset"
    tag_column: str = ""

    def fit(self, data: pl.LazyFrame) -> None:
        cfg = self.config
        self.seed = self.ctx.seed if cfg.seed is None else cfg.seed
        total = data.select(pl.len()).collect().item()
        self.limits = thresholds(data, None, {None: int(round(total * cfg.ratio))}, self.seed)
        self.used: Counter = Counter()
        self._generator = None

    @property
    def generator(self):
        if self._generator is None:
            from ..models.generate import Generator
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

    def apply(self, batch: pl.DataFrame) -> Result:
        if self.tag_column not in batch.columns:
            batch = batch.with_columns(pl.lit(None, dtype=pl.Utf8).alias(self.tag_column))
        chosen = batch.filter(keep_mask(batch, None, self.limits, self.seed))
        added, declined = self.compose(chosen.to_dicts()) if chosen.height else ([], [])
        stats = {"selected": chosen.height, "added": len(added), "declined": len(declined),
                 **{f"added_{how}": n for how, n in Counter(row[self.tag_column] for row in added).items()}}
        added_frame = pl.DataFrame(added, schema=batch.schema) if added else None
        declined_frame = pl.DataFrame(declined, schema=LEDGER_SCHEMA) if declined else None
        return Result(kept=batch, added=added_frame, declined=declined_frame, stats=stats)


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
            "origin": parent.get("origin")}
