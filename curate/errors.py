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
