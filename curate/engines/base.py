"""The engine interface: how the runner has one step run over one stage's input.

The runner plans stages, fingerprints and reuses them, and keeps the ledger and manifest; an engine
only moves records through a step. `local` streams batches in one process; a distributed engine
(Ray) implements the same method. An engine must give the same output as `local` for the same
input: batch steps see any partition of the rows, and dataset-scope steps' decisions are frames
keyed by (`_order`, id) that the engine applies with `steps.decisions.apply_verdicts`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

from ..ledger import ledger_rows
from ..steps.base import Result, Step
from .parquet_out import ParquetOut


@dataclass
class StageCounts:
    rows_in: int = 0
    kept: int = 0
    rejected: int = 0
    added: int = 0
    declined: int = 0           # ledger rows about derived records not built (parents stay kept)
    reasons: Counter = field(default_factory=Counter)
    stats: dict = field(default_factory=dict)

    def write(self, result: Result, rows_in: int, stage: int, step: str, out: ParquetOut,
              rejected: ParquetOut) -> None:
        """Write one batch's result (kept, then added; rejected, then declined) and count it."""
        self.rows_in += rows_in
        out.write(result.kept)
        self.kept += result.kept.height
        if result.added is not None and result.added.height:
            out.write(result.added)
            self.added += result.added.height
        if result.rejected.height:
            rejected.write(ledger_rows(result.rejected, stage, step))
            self.reasons.update(result.rejected["reason"].to_list())
        self.rejected += result.rejected.height
        if result.declined is not None and result.declined.height:
            rejected.write(ledger_rows(result.declined, stage, step))
            self.reasons.update(result.declined["reason"].to_list())
            self.declined += result.declined.height
        for key, value in result.stats.items():  # numbers add up over batches; labels are kept
            self.stats[key] = self.stats.get(key, 0) + value if isinstance(value, (int, float)) else value


class Engine(ABC):
    """Runs one step over a stage's input (a Parquet file), writing kept and added records to
    `out` and ledger rows to `rejected`; `advance(n)` reports progress in input rows."""

    name: ClassVar[str]

    def check(self) -> None:
        """Before a run reads anything: fail now on what would fail later (an engine that is not
        installed, a cluster that does not answer)."""

    def span_parser(self) -> Callable | None:
        """For the read stage: a function that parses pieces of a JSONL input elsewhere (see
        `io.sources.InputReader`), or None to parse them in this process."""
        return None

    @abstractmethod
    def run_step(self, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
                 batch_size: int, advance: Callable[[int], None] = lambda n: None) -> StageCounts:
        ...
