"""A persistent cache of generated text keyed by prompt hash, so a rerun of a generator recipe
costs nothing and an interrupted run resumes where it stopped.

SQLite (standard library) rather than files: one small file, atomic writes, safe to share between
runs. Only successful generations are stored; errors are retried next time.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import orjson


def prompt_key(identity: dict, messages: list[dict]) -> str:
    """The cache key: the generator's identity (backend, model, decoding settings) and the messages."""
    blob = orjson.dumps({"generator": identity, "messages": messages}, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


class GenerationCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, text TEXT NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(f"SELECT key, text FROM generations WHERE key IN ({','.join('?' * len(chunk))})",
                                   chunk).fetchall()
            found.update(rows)
        return found

    def put_many(self, items: dict[str, str]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO generations (key, text) VALUES (?, ?)", list(items.items()))

    def close(self) -> None:
        self.db.close()
