"""The run's own memory: which allocator Arrow uses, and each stage's peak resident memory.

Arrow's default allocator in current pyarrow wheels (mimalloc) hands freed pages back to the
operating system eagerly. A run frees and reallocates a batch's worth of buffers hundreds of
times per stage, so the pages are faulted in again each time: on the 1M-record core pipeline that
cost ~5 s of system time, and jemalloc, which keeps freed pages for reuse, also lowered the peak
(benchmarks/RESULTS.md). A user who sets ARROW_DEFAULT_MEMORY_POOL keeps their choice. Worker
processes started by the run inherit the setting.

Each stage's peak is read from the kernel's high-water mark, reset before the stage, so the
manifest says which step needed the memory (helper processes, such as ftfy workers, count apart).
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def prefer_reusing_allocator() -> None:
    """Ask Arrow for jemalloc, which Linux wheels ship, unless the user chose a pool.

    Arrow reads ARROW_DEFAULT_MEMORY_POOL once, when pyarrow is imported, so this only works
    before that import: the CLI calls it first thing. Python users can set the variable themselves."""
    if "pyarrow" in sys.modules or os.environ.get("ARROW_DEFAULT_MEMORY_POOL") or not sys.platform.startswith("linux"):
        return
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"


def reset_peak() -> None:
    """Start a new high-water mark (Linux: writing 5 to clear_refs); elsewhere a no-op."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        pass


def peak_mib() -> float:
    """Peak resident memory of this process since the last reset, in MiB."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # never reset: the run's peak so far
    return round(peak / (1 << 20) if sys.platform == "darwin" else peak / 1024, 1)
