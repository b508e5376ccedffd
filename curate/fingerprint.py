"""Content fingerprints for stages: same inputs, code version, config and file contents give the
same hash.

Files are fingerprinted by content. Hashing a large input on every run would be slow, so a
digest is remembered with the file's size, modification time and inode: a file whose three are
unchanged is not read again; any change (an edit in place, a copy over it) re-hashes it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import orjson


def digest(*parts) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(orjson.dumps(part, option=orjson.OPT_SORT_KEYS))
        h.update(b"\x1e")
    return h.hexdigest()


def file_digest(path: Path, chunk: int = 1 << 22) -> str:
    """blake2b of a file's bytes, remembered by (path, size, mtime, inode) in the user cache."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    known = _cache().get(key)
    if known:
        return known
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    value = h.hexdigest()
    if time.time_ns() - st.st_mtime_ns > 2_000_000_000:   # a file written this very moment may change
        _cache().put(key, value)                          # again within the same mtime tick: not cached
    return value


def files_fingerprint(files: list[Path]) -> list[list]:
    """What a list of files contributes to a fingerprint: name, size and content digest of each."""
    return [[f.name, f.stat().st_size, file_digest(f)] for f in files]


def folder_fingerprint(folder: Path) -> list[list]:
    """`files_fingerprint` of every file under `folder` (a model, an adapter), in path order."""
    return files_fingerprint(sorted(p for p in Path(folder).rglob("*") if p.is_file()))


class _DigestCache:
    """SQLite table (path, size, mtime_ns, inode) -> digest; safe for concurrent runs. Without a
    writable cache folder every file is simply hashed."""

    def __init__(self):
        self.db = None
        try:
            from .user_cache import cache_dir
            self.db = sqlite3.connect(str(cache_dir() / "file-digests.sqlite"), timeout=30,
                                      check_same_thread=False)
            self.db.execute("CREATE TABLE IF NOT EXISTS digests (path TEXT, size INTEGER, mtime_ns INTEGER, "
                            "inode INTEGER, digest TEXT, PRIMARY KEY (path, size, mtime_ns, inode))")
        except (OSError, sqlite3.Error):
            self.db = None

    def get(self, key: tuple) -> str | None:
        if self.db is None:
            return None
        try:
            row = self.db.execute("SELECT digest FROM digests WHERE path=? AND size=? AND mtime_ns=? AND inode=?",
                                  key).fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def put(self, key: tuple, value: str) -> None:
        if self.db is None:
            return
        try:
            with self.db:
                self.db.execute("DELETE FROM digests WHERE path=?", key[:1])
                self.db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", (*key, value))
        except sqlite3.Error:
            pass


_CACHE: _DigestCache | None = None
_PID: int | None = None


def _cache() -> _DigestCache:
    global _CACHE, _PID
    if _CACHE is None or _PID != os.getpid():     # a forked worker opens its own connection
        _CACHE, _PID = _DigestCache(), os.getpid()
    return _CACHE
