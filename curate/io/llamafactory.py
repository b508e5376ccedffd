"""`dataset_info.json` for LLaMA-Factory, written beside every export.

LLaMA-Factory reads a dataset from a folder holding `dataset_info.json`, which names each dataset's
file and how its columns map onto LLaMA-Factory's roles. Without it, pointing `file_name` at an
alpaca export lost `system` and `history` unless the user declared `columns`, and the messages
export failed. So each export says exactly what it wrote:

- `--format alpaca`: `formatting: alpaca`, prompt/query/response plus `system` and `history`
  when any record has them;
- `--format sharegpt`: `formatting: sharegpt`, `from`/`value` tags (human, gpt, system,
  observation);
- `--format messages`: `formatting: sharegpt` with OpenAI-style tags (role/content; user,
  assistant, system, tool);
- Parquet: alpaca columns over curate's own (`instruction`, `context`, `response`, `system`). Its
  `history` is a list of {role, content} turns LLaMA-Factory cannot read as alpaca history, so a
  Parquet export with multi-turn records gets no entry (the card says to export alpaca instead).

One entry per split, named `<dataset>_<split>` (`<dataset>` when the split is `train`), whose
`file_name` is the split's shard, or the data folder when the split has several shards and is
the only split there (with several shards and several splits there is no single name to give).
"""

from __future__ import annotations

import json
from pathlib import Path

SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "system_tag": "system", "observation_tag": "observation"}
MESSAGES_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system", "observation_tag": "tool"}
FILE = "dataset_info.json"


def entry(fmt: str, columns: list[str], has_history: bool) -> dict | None:
    """How LLaMA-Factory reads one split of this export; None when it cannot."""
    if fmt == "alpaca":
        cols = {"prompt": "instruction", "query": "input", "response": "output"}
        cols.update({k: k for k in ("system", "history") if k in columns})
        return {"formatting": "alpaca", "columns": cols}
    if fmt == "sharegpt":
        return {"formatting": "sharegpt", "columns": {"messages": "conversations"}, "tags": SHAREGPT_TAGS}
    if fmt == "messages":
        return {"formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": MESSAGES_TAGS}
    if has_history:
        return None
    cols = {"prompt": "instruction", "query": "context", "response": "response"}
    cols.update({"system": "system"} if "system" in columns else {})
    return {"formatting": "alpaca", "columns": cols}


def updated_info(existing: Path, name: str, split: str, shards: list[str], other_splits: bool,
                 spec: dict | None) -> dict:
    """The export's dataset_info.json contents after writing `split` (its shard file names under
    data/); entries of other splits, and any the user keeps there, stay."""
    info = json.loads(existing.read_text(encoding="utf-8")) if existing.is_file() else {}
    key = name if split == "train" else f"{name}_{split}"
    file_name = f"data/{shards[0]}" if len(shards) == 1 else (None if other_splits else "data")
    if spec is None or file_name is None:
        info.pop(key, None)
    else:
        info[key] = {"file_name": file_name, **spec}
    return info
