"""What runs on a Ray worker: building a step once per worker process, and applying it to
slices of a stage file. Imported by the engine (`ray_engine.py`) and the partitioned passes
(`ray_partitioned.py`); it imports no Ray itself, so workers unpickle it cheaply."""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
from typing import Iterator

import polars as pl

from ..errors import ConfigError
from ..steps.base import Step

UNREADABLE = "not readable on Ray node"


BUILT: dict[bytes, Step] = {}       # in a worker process: the steps it has built, by payload digest


def built_step(payload: bytes) -> Step:
    """The step a payload (its class, config and context, pickled) names, built once per worker
    process: Ray reuses a worker process for many tasks, so a step's setup (a DuckDB connection,
    compiled patterns, a model) is paid once per worker, not once per slice."""
    key = hashlib.sha256(payload).digest()
    if key not in BUILT:
        from ..quiet import quiet_third_party
        quiet_third_party()
        if len(BUILT) >= 4:                                 # steps of finished stages: let them go
            BUILT.clear()
        cls, config, ctx = pickle.loads(payload)
        BUILT[key] = cls(config, ctx)
    return BUILT[key]


def step_payload(step: Step) -> bytes:
    """What travels to the workers: the step's class (by reference), config and context."""
    return pickle.dumps((type(step), step.config, step.ctx))


def readable(source: str) -> None:
    """On a worker: the stage file must be there (shared storage), or say which node cannot see it."""
    if not os.access(source, os.R_OK):
        raise ConfigError(f"{source}: {UNREADABLE} {socket.gethostname()}; put the inputs and the run "
                          "folder on storage every node mounts at the same path (docs/SCALE.md)")


def listed_slices(batch, source: str) -> Iterator[tuple[int, int, pl.LazyFrame]]:
    """The slices (part, offset, rows) of the stage file that a batch of work items lists, each
    as (part, offset, a lazy scan of its rows); the file must be readable on this node."""
    readable(source)
    for part, offset, rows in zip(batch["part"].to_pylist(), batch["offset"].to_pylist(),
                                  batch["rows"].to_pylist()):
        yield part, offset, pl.scan_parquet(source).slice(offset, rows)


def map_items(ray, items: list[dict], fn, pool: int, **kwargs):
    """A Ray Data pass of `fn` over work items, one item per call, on `pool` one-CPU workers
    (an actor pool when `fn` is a class), with `kwargs` passed to `fn`."""
    return ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        fn, batch_size=1, batch_format="pyarrow", concurrency=pool, num_cpus=1, **kwargs)


def apply_slices(batch, payload: bytes, source: str):
    """Run the step over each slice (part, offset, rows) of the stage file that `batch` lists;
    one row per slice comes back: its part number, input rows and pickled result."""
    import pyarrow as pa
    step = built_step(payload)
    parts, blobs, counts = [], [], []
    for part, _, rows in listed_slices(batch, source):
        frame = rows.collect()
        result = step.apply(frame)
        parts.append(part)
        counts.append(frame.height)
        blobs.append(pickle.dumps({"kept": result.kept, "rejected": result.rejected, "added": result.added,
                                   "declined": result.declined, "stats": result.stats}))
    return pa.table({"part": parts, "rows_in": counts, "result": pa.array(blobs, type=pa.large_binary())})


def parse_spans(batch, path: str, args: bytes):
    """The read stage's JSONL fast path on a worker: each listed piece of the input file (its first
    line, byte offset and length) read and parsed; None where the piece needs the per-line reader,
    which the driver runs (it writes the ledger rows)."""
    import pyarrow as pa
    from ..io.fast_jsonl import fast_frame, read_span
    readable(path)
    options = pickle.loads(args)
    blobs = [pickle.dumps(fast_frame(read_span(path, offset, length), first_line, **options))
             for first_line, offset, length in zip(batch["first_line"].to_pylist(), batch["offset"].to_pylist(),
                                                   batch["length"].to_pylist())]
    return pa.table({"part": batch["part"], "frame": pa.array(blobs, type=pa.large_binary())})


class StepActor:
    """An actor of a model-holding step's pool: it builds the step (loads the model) when it
    starts, on a GPU where the step asks for one, and runs `work` on each batch of work items it
    is given (`apply_slices` unless a subclass names another pass)."""

    payload: bytes = b""     # set on the subclass made for each stage (`actor_for`): no constructor
    options: dict = {}       # arguments, which Ray Data would keep in the object store, where a restart can lose them
    work = staticmethod(apply_slices)

    def __init__(self):
        built_step(self.payload)

    def __call__(self, batch):
        return self.work(batch, self.payload, **self.options)


def actor_for(payload: bytes, work=apply_slices, **options) -> type:
    """A `StepActor` class for one stage's pass: its step, its work function and that function's options."""
    return type("StepActorOf", (StepActor,), {"payload": payload, "work": staticmethod(work), "options": options})
