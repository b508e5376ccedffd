"""Third-party noise stays out of the user's terminal and goes to a log file.

transformers, peft, torch and datasets print warnings ("`loss_type=None` was set ..."), advisory
notes and "Loading weights" progress bars that say nothing to a curate user and bury curate's own
progress. The command line therefore, before anything imports them:

- turns off Hugging Face progress bars and transformers' advisory warnings (their own switches);
- sends Python warnings and every library's log records to `<cache>/logs/curate.log` instead of
  the terminal (the path is in docs/GUIDE.md, for when something needs explaining).

curate's own messages (progress, notes, `error:` lines) are printed by curate and are not affected.
Only the command line calls this (from the app's callback, so every way of invoking the app gets it,
the test runner's included): a Python user's own logging and warnings setup is left alone. It runs
once per process; when transformers or huggingface_hub were imported before (they read their
environment switches at import), their own functions are called instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "TOKENIZERS_PARALLELISM": "false",
             "DATASETS_VERBOSITY": "error"}


def log_path() -> Path:
    from .user_cache import cache_dir
    folder = cache_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "curate.log"


_done = False


def quiet_third_party() -> None:
    global _done
    import sys
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if _done:
        return
    _done = True
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    try:
        handler: logging.Handler = logging.FileHandler(log_path(), encoding="utf-8")
    except OSError:                     # no writable cache: drop the noise rather than print it
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)       # warnings.warn(...) -> the "py.warnings" logger -> the file


def native_stderr_to_log() -> None:
    """Where the command line is quiet, native libraries' own stderr lines go to the log file too.

    Ray's C++ core writes advisories straight to file descriptor 2 from this process ("constructor
    arguments in the object store ..."), past Python's logging. Descriptor 2 is pointed at the log
    file, and `sys.stderr` (curate's progress and error lines) at a copy of the terminal's
    descriptor, so what curate prints still reaches the user. Once per process, and only after
    `quiet_third_party` (a Python user's stderr is left alone)."""
    global _native_done
    import sys
    if not _done or _native_done or sys.stderr is not sys.__stderr__:   # captured (a test runner): leave it
        return
    _native_done = True
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
        log = os.open(log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except (OSError, ValueError, AttributeError):
        return
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                           errors="backslashreplace")
    os.dup2(log, 2)
    os.close(log)


_native_done = False
