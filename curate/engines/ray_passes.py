"""How the Ray driver runs a pass on the workers and reads it back: which steps get an actor
pool (and a GPU), results in part order whatever order they arrive in, and a worker's failure
as curate's own error. Shared by the engine (`ray_engine.py`) and its dataset-scope passes."""

from __future__ import annotations

import pickle
from typing import Iterator

from ..errors import ConfigError, CurateError
from ..steps.base import Step
from .ray_workers import UNREADABLE


def holds_model(step: Step) -> bool:
    """Steps configured with a model (language ID, embeddings, fastText scorers) get an actor pool."""
    return "model" in type(step.config).model_fields


def wants_gpu(step: Step) -> bool:
    """A model step with a `device` setting other than cpu (fastText models have none: CPU only)."""
    fields = type(step.config).model_fields
    return holds_model(step) and "device" in fields and str(step.config.device or "auto") != "cpu"


def gpus_per_actor(ray, step: Step) -> int:
    """1 for a model step that may use a GPU on a cluster that has one, else 0."""
    return 1 if wants_gpu(step) and ray.cluster_resources().get("GPU") else 0


def in_part_order(ray, results, step: str, expected: int) -> Iterator[dict]:
    """The rows of a Ray Data pass (one per work item, with its `part` number) in part order,
    whatever order they arrive in; a worker's failure as curate's error; a part that never
    comes back is an error, not a shorter stage."""
    waiting: dict[int, dict] = {}
    next_part = 0
    try:
        for table in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            for row in table.to_pylist():
                waiting[row["part"]] = row
            while next_part in waiting:
                yield waiting.pop(next_part)
                next_part += 1
    except ray.exceptions.RayError as exc:
        raise worker_error(exc, step) from None
    if next_part != expected:
        raise CurateError(f"{step}: {expected - next_part} of {expected} slices never came back from the Ray workers")


def worker_error(exc: Exception, step: str) -> CurateError:
    """A worker's failure as curate's error. A curate error raised on a worker (bad data, a node
    that cannot read the stage file) comes back as itself, with its exit code; anything else
    names the step and the last line Ray reported."""
    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, CurateError):      # Ray's RayTaskError(ConfigError) is one too: take ours
            ours = next(c for c in type(cause).__mro__ if c.__module__ == CurateError.__module__)
            return ours(str(cause.args[0]) if cause.args else str(cause))
        cause = getattr(cause, "cause", None) or cause.__cause__
    text = str(exc)
    for line in text.splitlines():
        if UNREADABLE in line:
            return ConfigError(line.split("ConfigError: ", 1)[-1].strip())
    last = [line for line in text.splitlines() if line.strip()]
    return CurateError(f"{step} failed on a Ray worker: {last[-1].strip() if last else type(exc).__name__}")


def unpickled(results, column: str) -> list:
    """The pickled objects in `column` of a Ray Data pass's rows, in the order they arrive (for
    passes over partitions, whose results are combined whatever their order)."""
    return [pickle.loads(blob) for table in results.iter_batches(batch_size=None, batch_format="pyarrow")
            for blob in table[column].to_pylist()]
