"""Content fingerprints for stages: same inputs, code version and config give the same hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson


def digest(*parts) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(orjson.dumps(part, option=orjson.OPT_SORT_KEYS))
        h.update(b"\x1e")
    return h.hexdigest()


def file_digest(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
