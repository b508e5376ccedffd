"""Engines run step classes over stage files: `local` (the default, and for now the only one) streams
batches in one process. `base.py` is the interface a distributed engine implements."""

from __future__ import annotations

from .base import Engine


def get_engine(name: str) -> Engine:
    """The engine called `name`."""
    from ..errors import ConfigError
    if name == "local":
        from .local import LocalEngine
        return LocalEngine()
    raise ConfigError(f"unknown engine '{name}'; engines: local")
