"""Error types that carry their own exit code, so the CLI maps them without guessing.

Usage and configuration mistakes exit with 2, failures while running exit with 1.
Every message names where the problem is (file, line, field or recipe key) because
a user fixing bad input should never need a traceback.
"""


class CurateError(Exception):
    """Base class: a problem we can explain to the user in one message."""

    exit_code = 1


class ConfigError(CurateError):
    """The recipe, a step config, a CLI flag or an input path is wrong (exit 2)."""

    exit_code = 2


class DataError(CurateError):
    """Input data could not be read or mapped to records (exit 1)."""

    exit_code = 1


class InvariantError(CurateError):
    """Row accounting does not add up: a bug, never the user's fault (exit 1)."""

    exit_code = 1


def write_error(exc: OSError, where: object, error: type[CurateError] = CurateError) -> CurateError:
    """A failed write as one message that says which path and why, in words: "the disk is full"
    rather than a bare errno (pyarrow and DuckDB report a full disk without a filename)."""
    import errno
    text = str(exc)
    if exc.errno == errno.ENOSPC or "No space left" in text:
        reason = "the disk is full (no space left on device)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = f"not allowed to write there ({exc.strerror})"
    else:
        reason = exc.strerror or text.splitlines()[0]
    path = exc.filename or where
    return error(f"cannot write {path}: {reason}")
