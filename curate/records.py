"""The canonical instruction record: its schema, its content id, and its chat rendering.

Every format adapter produces these columns and every writer consumes them, so the
rest of curate only ever sees one shape of data (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import polars as pl

HISTORY_TYPE = pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8}))

SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Utf8,
    "instruction": pl.Utf8,
    "context": pl.Utf8,
    "response": pl.Utf8,
    "system": pl.Utf8,
    "history": HISTORY_TYPE,
    "task": pl.Utf8,
    "source": pl.Utf8,
    "parent_ids": pl.List(pl.Utf8),
    "origin": pl.Utf8,
}
CORE_COLUMNS = list(SCHEMA)

_NONE = "\x00"
_SEP = "\x1f"


def _history_key(history: list[dict] | None) -> str:
    if history is None:
        return _NONE
    return orjson.dumps([[t["role"], t["content"]] for t in history]).decode()


def content_id(instruction: str, context: str | None, response: str,
               system: str | None, history: list[dict] | None) -> str:
    """Stable id of a record's content: the same text gives the same id on every machine.

    None and "" hash differently, so "no context" and "empty context" stay distinct.
    """
    parts = [instruction, _NONE if context is None else context, response,
             _NONE if system is None else system, _history_key(history)]
    return hashlib.blake2b(_SEP.join(parts).encode("utf-8", "surrogatepass"),
                           digest_size=10).hexdigest()


def frame_from_rows(rows: list[dict[str, Any]], extra: list[str] | None = None) -> pl.DataFrame:
    """Build a canonical frame from adapter output dicts, computing ids where missing."""
    cols: dict[str, list] = {c: [] for c in CORE_COLUMNS}
    extra = extra or []
    extra_cols: dict[str, list] = {c: [] for c in extra}
    for r in rows:
        if r.get("id") is None:
            r["id"] = content_id(r["instruction"], r.get("context"), r["response"],
                                 r.get("system"), r.get("history"))
        for c in CORE_COLUMNS:
            cols[c].append(r.get(c))
        for c in extra:
            extra_cols[c].append(r.get(c))
    frame = pl.DataFrame({c: pl.Series(c, cols[c], dtype=SCHEMA[c]) for c in CORE_COLUMNS})
    if extra:
        frame = frame.with_columns(
            pl.Series(c, [None if v is None else (v if isinstance(v, str) else orjson.dumps(v).decode())
                          for v in extra_cols[c]], dtype=pl.Utf8)
            for c in extra)
    return frame


def user_turn(instruction: str, context: str | None) -> str:
    """The single place where an instruction and its context become one user message."""
    if context:
        return f"{instruction}\n\n{context}" if instruction else context
    return instruction


def to_messages(record: dict[str, Any]) -> list[dict[str, str]]:
    """Render a record as chat messages (system, earlier turns, user, assistant).

    This is the only renderer in curate: writers, the trainer and eval all call it, so
    a record means the same conversation everywhere.
    """
    messages: list[dict[str, str]] = []
    if record.get("system"):
        messages.append({"role": "system", "content": record["system"]})
    for turn in record.get("history") or []:
        messages.append({"role": turn["role"], "content": turn["content"]})
    messages.append({"role": "user", "content": user_turn(record["instruction"], record.get("context"))})
    messages.append({"role": "assistant", "content": record["response"]})
    return messages
