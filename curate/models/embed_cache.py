"""On-disk embedding cache: one SQLite file per (model identity, backend), keyed by text hash.

The file name carries a hash of the model's identity (its config and weight files, or its Hub id)
and the backend, so vectors from another model or precision are never mixed up. SQLite is in the
standard library, safe for concurrent readers, and a lookup of a few thousand keys is a few ms.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbeddingCache:
    def __init__(self, folder: Path, model_key: str, backend: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{model_key}-{backend}.sqlite"
        self.con = sqlite3.connect(self.path, timeout=60)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("CREATE TABLE IF NOT EXISTS emb (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), 900):  # SQLite's bound-parameter limit
            part = keys[start:start + 900]
            marks = ",".join("?" * len(part))
            for k, v in self.con.execute(f"SELECT k, v FROM emb WHERE k IN ({marks})", part):
                found[k] = np.frombuffer(v, dtype=np.float32)
        return found

    def put(self, keys: list[bytes], vectors: np.ndarray) -> None:
        rows = [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vectors)]
        with self.con:
            self.con.executemany("INSERT OR IGNORE INTO emb (k, v) VALUES (?, ?)", rows)

    def __len__(self) -> int:
        return self.con.execute("SELECT count(*) FROM emb").fetchone()[0]
