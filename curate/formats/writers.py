"""Writers: canonical records out to Alpaca, messages or ShareGPT JSONL, or Parquet.

Chat writers call `records.to_messages`, the one renderer, so context placement is the same
as in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import orjson

from ..records import to_messages

SHAREGPT_ROLES = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}


def alpaca_row(r: dict) -> dict:
    row = {"instruction": r["instruction"], "input": r.get("context") or "", "output": r["response"]}
    if r.get("system"):
        row["system"] = r["system"]
    turns = r.get("history") or []
    if turns:
        row["history"] = [[turns[i]["content"], turns[i + 1]["content"]] for i in range(0, len(turns) - 1, 2)]
    return row


def messages_row(r: dict) -> dict:
    return {"messages": to_messages(r)}


def sharegpt_row(r: dict) -> dict:
    return {"conversations": [{"from": SHAREGPT_ROLES.get(m["role"], m["role"]), "value": m["content"]}
                              for m in to_messages(r)]}


ROW_WRITERS: dict[str, Callable[[dict], dict]] = {
    "alpaca": alpaca_row, "messages": messages_row, "sharegpt": sharegpt_row}
WRITERS = ["parquet", *ROW_WRITERS]


def write_jsonl(rows: Iterable[dict], path: Path, fmt: str) -> list[str]:
    """Write `rows` converted to `fmt`, one JSON object a line; the keys written, in first-seen order."""
    convert = ROW_WRITERS[fmt]
    keys: dict[str, None] = {}
    with open(path, "wb") as fh:
        for r in rows:
            out = convert(r)
            keys.update(dict.fromkeys(out))
            fh.write(orjson.dumps(out) + b"\n")
    return list(keys)
