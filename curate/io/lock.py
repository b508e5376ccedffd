"""One writer per run folder at a time.

Two `curate run`s of the same recipe write the same run folder. Without a lock, `--fresh` in one
deleted the other's files mid-write and it crashed. With it, the second run waits for the first,
then finds every stage the first one finished and reuses it (or, with `--fresh`, recomputes).
The lock is an `flock` on `<run>/run.lock`: the kernel drops it when its holder exits, even on
SIGKILL, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


@contextmanager
def run_lock(run_dir: Path, note: Callable[[str], None] = lambda text: None) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:                 # not POSIX: no lock, as before
        yield
        return
    path = run_dir / "run.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            note(f"waiting for the other run of this recipe ({holder}) to finish with {run_dir}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
