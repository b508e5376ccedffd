"""`score.predictive_strength` on a Ray cluster: the probe models score on the workers.

The step's slow part is every probe model's loss on every sampled record (about an hour on a CPU
for 600 records and five probes; on a cluster, one actor per worker loads a probe once, on a GPU
where there is one). The driver decides, as locally, which records are scored and which losses
the cache already holds; the texts still to score are cut into the step's fixed chunks, and the
workers score the chunks, one probe after another. The losses come back to the driver, which
caches them and computes the strengths. The chunks are the local engine's, so the losses, and the
stage file, are the same on both engines.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

from ..steps.base import Step
from .base import StageCounts
from .parquet_out import ParquetOut
from .ray_passes import in_part_order
from .ray_workers import actor_for, map_items, step_payload

LOADED: dict[bytes, object] = {}      # in a worker process: the probe it has loaded, by its pickle


def scores_with_probes(step: Step) -> bool:
    return hasattr(step, "score_chunks")


def probe_losses(batch, payload: bytes, probe: bytes):
    """Each listed chunk of texts scored (bits per character) under the probe, which this worker
    process loads once."""
    import pyarrow as pa
    from ..steps.score.predictive_strength import chunk_bpc, load_probe
    if probe not in LOADED:
        LOADED.clear()                                   # the previous probe's model: let it go
        LOADED[probe] = load_probe(*pickle.loads(probe))
    max_tokens = pickle.loads(probe)[1].max_tokens
    blobs = [pickle.dumps(chunk_bpc(LOADED[probe], pickle.loads(texts), max_tokens))
             for texts in batch["texts"].to_pylist()]
    return pa.table({"part": batch["part"], "bpc": pa.array(blobs, type=pa.large_binary())})


def run_probed(ray, step: Step, source: Path, out: ParquetOut, rejected: ParquetOut, stage: int,
               batch_size: int, work: list[dict], pool: int, advance: Callable[[int], None]) -> StageCounts:
    """The step's own `decide` on the driver, with its chunks of texts scored on the workers."""
    from .local import LocalEngine
    payload = step_payload(step)

    def on_workers(probe, cfg, chunks: list[list[str]]) -> list:
        items = [{"part": i, "texts": pickle.dumps(texts)} for i, texts in enumerate(chunks)]
        gpus = 1 if str(cfg.device) != "cpu" and ray.cluster_resources().get("GPU") else 0
        results = map_items(ray, items, actor_for(payload, probe_losses, probe=pickle.dumps((probe, cfg))),
                            min(pool, len(items)), num_gpus=gpus)
        return [pickle.loads(row["bpc"]) for row in in_part_order(ray, results, step.name, len(items))]

    step.score_chunks = on_workers
    return LocalEngine().run_step(step, source, out, rejected, stage, batch_size, advance)
