"""The Ray engine: the same steps, run on a Ray cluster with Ray Data.

A batch step runs unchanged inside Ray Data's `map_batches`: a worker reads its slice of the stage
file from shared storage into polars, calls `apply`, and sends back the slice's kept, rejected,
added and declined rows. A step configured with a model runs on a pool of actors that load the
model once each (on a GPU where there is one); the others run as plain tasks, which Ray gives to
warm worker processes (an actor pool costs seconds to start, on every stage), and each worker
process builds a step once and keeps it for the stage's later slices. The slices are the local
engine's batches (consecutive runs of `batch_size` rows), and the driver writes the results in
slice order with the local engine's own code (`StageCounts.write`). So a stage file, its ledger, its counts and every
record's input position (`_order`, which "first copy wins" rules use downstream) are the same on
both engines, and the runner's fingerprints, accounting check and resume work unchanged.

The read stage's JSONL inputs are cut into pieces of whole lines on the driver (a newline scan),
and the workers read and parse the pieces (the fast path's pyarrow parser); a piece with a bad
line comes back empty and the driver reads it line by line, writing the precise ledger rows.

A worker that dies mid-stage is replaced and its slice is run again (Ray retries the task);
only finished slices reach the driver, so none is written twice.

Dataset-scope steps whose decisions fall within groups of a key (`dedup.exact`) are decided on
the workers by hash partitioning, `dedup.near` has its signatures made and its bands searched
there (`ray_partitioned.py`), `dedup.semantic` its embeddings, cluster assignment and
per-cluster work (`ray_clustered.py`), and `select.top`/`sample`/`mix` find their cut-offs from
the workers' slice summaries (`ray_thresholds.py`). `tag.cluster` and `select.diverse` have their
records embedded on the workers and decide on the driver with those vectors (`ray_embedded.py`);
`score.predictive_strength` has its probe models score on the workers (`ray_probes.py`), and
`score.ifd` and `tag.context_dependency` their records scored there (`ray_scored.py`). The
others (`select.tasks`, `select.preselect`, `score.token_quality`, `compose.*`) decide on the
driver over a lazy scan of the stage file, as on the local engine; their memory is what `decide`
keeps (per step in docs/SCALE.md).

`ray` is an optional dependency (`pip install 'curate[ray]'`), imported only here.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
from pathlib import Path
from typing import Callable

import polars as pl

from ..errors import ConfigError
from ..steps.base import Result, Step
from .base import Engine, StageCounts
from .parquet_out import ParquetOut
from .ray_passes import gpus_per_actor, holds_model, in_part_order, worker_error
from .ray_workers import actor_for, apply_slices, map_items, parse_spans, step_payload

CONNECT_TIMEOUT_S = 5.0


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError("the ray engine needs Ray Data: pip install 'curate[ray]'") from None
    return ray


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """An address that does not answer is an error within seconds (ray.init would retry for minutes)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address}: expected HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address} within {timeout:.0f} s "
                          f"({exc.strerror or exc}); start it there with `ray start --head`, or check the "
                          "address and the firewall") from None


def slices(rows: int, batch_size: int) -> list[dict]:
    """The local engine's batches as (part, offset, rows): the unit of work a worker gets."""
    return [{"part": i, "offset": offset, "rows": min(batch_size, rows - offset)}
            for i, offset in enumerate(range(0, rows, batch_size))]


class RayEngine(Engine):
    """`address`: a running cluster's head (HOST:PORT; default $RAY_ADDRESS, else a local cluster
    started in this process); `workers`: workers per batch step (default: the cluster's CPUs)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.workers = workers

    def check(self) -> None:
        """Ray installed, and the cluster's address answering, before the run reads its inputs.
        (Ray is not imported here: `connect` must set the token mode before it is.)"""
        import importlib.util
        if importlib.util.find_spec("ray") is None:
            raise ConfigError("the ray engine needs Ray Data: pip install 'curate[ray]'")
        if self.address and self.address not in ("auto", "local"):
            check_reachable(self.address)

    def connect(self):
        """Join the cluster at `address` ("auto": one started on this machine with `ray start`), or
        start one in this process; an unreachable address fails within seconds."""
        if self.address and self.address not in ("auto", "local"):
            check_reachable(self.address)
            if "RAY_AUTH_MODE" not in os.environ and (
                    os.environ.get("RAY_AUTH_TOKEN") or (Path.home() / ".ray" / "auth_token").is_file()):
                os.environ["RAY_AUTH_MODE"] = "token"       # read when ray is imported: set it before
        ray = import_ray()
        if ray.is_initialized():
            return ray
        for name in ("ray", "ray.data", "ray.train", "ray.tune"):
            logging.getLogger(name).setLevel(logging.ERROR)
        from ..quiet import native_stderr_to_log
        native_stderr_to_log()                              # Ray's C++ core prints to descriptor 2
        address = self.address or "local"
        options = {"num_cpus": self.workers or os.cpu_count()} if address == "local" else {}
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                     configure_logging=False, **options)
        except ray.exceptions.AuthenticationError:
            raise ConfigError(f"the Ray cluster at {address} refused this driver's token: set RAY_AUTH_TOKEN "
                              "(or ~/.ray/auth_token) to the cluster's token (docs/SCALE.md)") from None
        except ConnectionError as exc:                      # an OSError: not a "cannot write" for the runner
            raise ConfigError(f"cannot join the Ray cluster at {address}: {exc}; if the cluster uses token "
                              "authentication, set RAY_AUTH_TOKEN to its token (docs/SCALE.md)") from None
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False                   # curate shows its own progress
        ctx.print_on_execution_start = False
        return ray

    def span_parser(self) -> Callable:
        return self.parsed_spans

    def parsed_spans(self, path: Path, spans: list[tuple[int, int, int]], args: dict):
        """The read stage on the workers: each piece of a JSONL input parsed where it is read, the
        frames handed back in file order."""
        ray = self.connect()
        items = [{"part": i, "first_line": f, "offset": o, "length": n} for i, (f, o, n) in enumerate(spans)]
        results = map_items(ray, items, parse_spans, min(self.pool_size(ray), len(items)),
                            fn_kwargs={"path": str(Path(path).resolve()), "args": pickle.dumps(args)})
        for row in in_part_order(ray, results, "read", len(items)):
            yield pickle.loads(row["frame"])

    def pool_size(self, ray) -> int:
        return self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def run_step(self, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
                 batch_size: int, advance: Callable[[int], None] = lambda n: None) -> StageCounts:
        import pyarrow.parquet as pq
        from .local import LocalEngine
        from .ray_clustered import clusterable, run_clustered
        from .ray_embedded import embeds_records, run_embedded
        from .ray_partitioned import partitionable, run_partitioned, run_signed, signable
        from .ray_probes import run_probed, scores_with_probes
        from .ray_scored import run_scored, scores_in_chunks
        from .ray_thresholds import rankable, run_thresholds
        meta = pq.ParquetFile(source)
        rows = meta.metadata.num_rows
        distributed = None
        if step.scope == "dataset":
            distributed = (run_signed if signable(step) and rows >= 2 else
                           run_clustered if clusterable(step) and rows >= 2 else
                           run_embedded if embeds_records(step) and step.wants_vectors(rows) else
                           run_probed if scores_with_probes(step) else
                           run_scored if scores_in_chunks(step) else
                           run_thresholds if rankable(step) else
                           run_partitioned if partitionable(step) else None)
            if distributed is None:                           # decides on the driver, as locally
                return LocalEngine().run_step(step, source, out, rejected, stage, batch_size, advance)
        out.empty_schema = pl.from_arrow(meta.schema_arrow.empty_table()).schema
        work = slices(rows, batch_size)
        counts = StageCounts()
        if not work:
            return counts
        ray = self.connect()
        pool = min(self.pool_size(ray), len(work))
        if distributed is not None:
            try:
                return distributed(ray, step, source, out, rejected, stage, batch_size, work, pool, advance)
            except ray.exceptions.RayError as exc:
                raise worker_error(exc, step.name) from None
        payload, where = step_payload(step), str(source.resolve())
        if holds_model(step):
            gpus = gpus_per_actor(ray, step)
            results = map_items(ray, work, actor_for(payload, source=where), pool, num_gpus=gpus)
        else:                   # plain tasks: Ray reuses warm worker processes, no pool to start per stage
            results = map_items(ray, work, apply_slices, pool, fn_kwargs={"payload": payload, "source": where})
        for row in in_part_order(ray, results, step.name, len(work)):   # written in input order
            counts.write(Result(**pickle.loads(row["result"])), row["rows_in"], stage, step.name, out, rejected)
            advance(row["rows_in"])
        return counts
