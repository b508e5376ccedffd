"""Process pools whose workers die with the process that started them.

A `ProcessPoolExecutor` worker outlives a parent killed with SIGKILL: it keeps computing, keeps
the caller's stdout/stderr pipes open (so a script reading curate's output hangs) and holds its
memory. Two guards stop that, each enough on its own:

- on Linux, the kernel sends the worker SIGKILL when its parent dies (`PR_SET_PDEATHSIG`);
- everywhere, a watchdog thread in the worker exits it within a fraction of a second once its
  parent pid changes (the worker was re-parented to init or a subreaper).

Workers are started with `spawn`, so their parent is curate itself (not a forkserver that would
outlive it) and no thread state of the parent (polars, rayon, torch) is copied into them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 0.2


def _die_with_parent(parent: int) -> None:
    """Pool initializer: runs first in every worker."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:        # the parent died before the guard was set
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCH_SECONDS)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="curate-parent-watch", daemon=True).start()


def process_pool(workers: int):
    """A `ProcessPoolExecutor` of `workers` processes that never outlive this one."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_parent, initargs=(os.getpid(),))


_shared: dict[int, object] = {}


def shared_pool(workers: int):
    """One `process_pool(workers)` per process, started on first use and shut down at exit: for
    work that comes in many calls (batches), so workers start once, not once per call."""
    if workers not in _shared:
        import atexit
        _shared[workers] = process_pool(workers)
        atexit.register(_shared[workers].shutdown)
    return _shared[workers]
