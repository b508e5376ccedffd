"""Engines run step classes over stage files: `local` (the default) streams batches in one process;
`ray` runs the same steps on a Ray cluster (`ray_engine.py`). `base.py` is the interface."""

from __future__ import annotations

from .base import Engine

ENGINES = ("local", "ray")


def get_engine(name: str, address: str | None = None, workers: int | None = None) -> Engine:
    """The engine called `name`; `address` (a Ray head node, HOST:PORT) and `workers` (the actor
    pool size) apply to `ray`."""
    from ..errors import ConfigError
    if name == "local":
        from .local import LocalEngine
        return LocalEngine()
    if name == "ray":
        from .ray_engine import RayEngine
        return RayEngine(address, workers)
    raise ConfigError(f"unknown engine '{name}'; engines: {', '.join(ENGINES)}")
