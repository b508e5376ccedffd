"""Dataset-scope steps whose model scores each record by itself and which then decide over all the
scores (tag the highest share, report a median): the scoring runs over fixed chunks of records, in
input order, so that the Ray engine can score the chunks on its workers (`engines/ray_scored.py`),
with actors that load the model once, and reach the local engine's numbers. A score's last bits
depend on the other records of its batch (padding, length-sorted batches), so the chunks, not
the engine, decide the batches.
"""

from __future__ import annotations

import polars as pl

from ..decisions import Decisions
from .conversations import CONVERSATION

SCORE_ROWS = 1024     # records per scoring chunk, on every engine


def fixed_spans(n: int, size: int) -> list[tuple[int, int]]:
    """(offset, rows) of consecutive chunks of `size` over `n` items: the same on every engine."""
    return [(offset, min(size, n - offset)) for offset in range(0, n, size)]


def score_spans(n: int) -> list[tuple[int, int]]:
    """(offset, rows) of the scoring chunks of `n` records (one empty chunk for none)."""
    return fixed_spans(n, SCORE_ROWS) or [(0, 0)]


def merged_stats(parts: list[dict]) -> dict:
    """The chunks' stats together: numbers add up, dictionaries merge the same way, and anything
    else (a label, a list of layers) is the first chunk's."""
    total: dict = {}
    for stats in parts:
        for key, value in stats.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
                total.setdefault(key, value)
            elif isinstance(value, dict):
                total[key] = merged_stats([total.get(key, {}), value])
            else:
                total[key] = total.get(key, 0) + value
    return total


class ComputedElsewhere:
    """A step whose chunks another engine can compute (the Ray workers, by the same rules) and hand
    back, for the next `decide` to use instead of computing them here."""

    def use_computed(self, results, stats: dict) -> None:
        """Every chunk's results joined in chunk order, and their stats added up."""
        self._computed = (results, stats)

    def take_computed(self):
        """What was handed over, once; None: compute it here."""
        given, self._computed = getattr(self, "_computed", None), None
        return given


class ChunkedScoring(ComputedElsewhere):
    """A dataset-scope step as parts: `prepare_scoring` (once, over every record, before any chunk
    is scored: e.g. train the scorer), `scored` (a chunk of records -> one row of score columns
    per record, and stats) and `decide_scored` (every record and every score -> the decisions)."""

    def extra_columns(self) -> list[str]:
        """Columns the step reads besides the conversation."""
        return []

    def score_columns(self, data: pl.LazyFrame) -> pl.LazyFrame:
        """What `scored` reads of each chunk."""
        names = data.collect_schema().names()
        wanted = CONVERSATION + [c for c in self.extra_columns() if c not in CONVERSATION]
        return data.select([c for c in wanted if c in names])

    def decide_columns(self, data: pl.LazyFrame) -> pl.LazyFrame | None:
        """What `decide_scored` reads of every record; None: what `scored` reads (then the chunks
        are cut from it, not read again)."""
        return None

    def prepare_scoring(self, data: pl.LazyFrame) -> dict:
        """Work over every record before the chunks are scored, on the driver on every engine;
        its stats join the chunks'."""
        return {}

    @staticmethod
    def chunks(n: int) -> list[tuple[int, int]]:
        return score_spans(n)

    def scored(self, chunk: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
        raise NotImplementedError

    def decide_scored(self, frame: pl.DataFrame, scores: pl.DataFrame, stats: dict) -> Decisions:
        raise NotImplementedError

    def decide(self, data: pl.LazyFrame) -> Decisions:
        own = self.decide_columns(data)
        frame = (self.score_columns(data) if own is None else own).collect()
        given = self.take_computed()     # on Ray: the workers' scores, with `prepare_scoring`'s stats
        if given is None:
            from ...progress import Progress
            prepared = self.prepare_scoring(data)
            parts = []
            bar = Progress()
            with bar:
                task = bar.task(f"{self.name}: scoring", total=frame.height)
                for offset, rows in self.chunks(frame.height):
                    chunk = frame.slice(offset, rows) if own is None else \
                        self.score_columns(data.slice(offset, rows)).collect()
                    parts.append(self.scored(chunk))
                    bar.advance(task, rows)
            given = (pl.concat([p for p, _ in parts], how="vertical"),
                     merged_stats([prepared] + [s for _, s in parts]))
        if given[0].height != frame.height:
            raise RuntimeError(f"{given[0].height} scored rows for {frame.height} records")
        return self.decide_scored(frame, *given)
