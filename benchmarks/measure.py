"""Run a command as a child process and report wall time and the peak RSS of its process tree."""

from __future__ import annotations

import os
import subprocess
import time


def measure(cmd: list[str], cwd: str | None = None, env: dict | None = None, log: str | None = None) -> dict:
    """Wall seconds and peak resident memory (GiB) of `cmd` and its children (RUSAGE_CHILDREN is a
    per-process-tree maximum, so run one command per fresh interpreter for a clean reading)."""
    start = time.perf_counter()
    with open(log or os.devnull, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    return {"seconds": seconds, "peak_rss_gib": usage.ru_maxrss / 2**20, "exit": code}
