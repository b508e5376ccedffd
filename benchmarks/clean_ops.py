"""Benchmark: records/s of every cleaning operator on real instruction records from ../shared/data.

Each step runs in-process with its default config (plus what it needs: eval files, a model) over
the same records in batches of 10,000, the way the runner feeds it; the time is the step's own
work (fit + apply), without reading or writing Parquet.

    python benchmarks/clean_ops.py [--n 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from real_texts import SHARED, SOURCES  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work" / "clean_ops"
BATCH = 10_000


def real_records(n: int) -> pl.DataFrame:
    from curate.io.load import read_inputs
    from curate.recipe import InputSpec
    frame = read_inputs([InputSpec(path=str(SHARED / pattern)) for pattern in SOURCES])
    frame = frame.unique("id", keep="first", maintain_order=True)
    frame = frame.sample(fraction=1.0, shuffle=True, seed=0)
    while frame.height < n:                      # fewer distinct records than asked: repeat them
        frame = pl.concat([frame, frame])
    return frame.head(n)


def time_step(name: str, config: dict, records: pl.DataFrame) -> dict:
    from curate.engines.local import run_frame
    from curate.steps import Context, build_config, step_class
    cls = step_class(name)
    ctx = Context(seed=0, stage=1, cache_dir=str(WORK / "cache"), base_dir=str(ROOT))
    start = time.perf_counter()
    step = cls(build_config(name, config), ctx)
    kept = rejected = 0
    for res in run_frame(step, records, BATCH):
        kept += res.kept.height
        rejected += res.rejected.height
    seconds = time.perf_counter() - start
    return {"step": name, "seconds": seconds, "records_per_s": records.height / seconds,
            "rejected": rejected, "kept": kept}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    records = real_records(args.n)
    print(f"{records.height} real records, mean {records['response'].str.len_chars().mean():.0f} response chars")
    WORK.mkdir(parents=True, exist_ok=True)
    steps = [("filter.trivial", {}), ("filter.echo", {}), ("filter.refusal", {}), ("filter.repetition", {}),
             ("filter.chars", {}), ("filter.markup", {}), ("filter.truncated", {}), ("filter.long_lines", {}),
             ("filter.language", {"languages": ["en"]}), ("filter.pii", {}),
             ("filter.decontaminate", {"evals": [str(SHARED / "gsm8k" / "test.jsonl")]}),
             ("dedup.exact", {}), ("dedup.near", {})]
    rows = [time_step(name, cfg, records) for name, cfg in steps]
    print(f"{'step':<22} {'s':>7} {'records/s':>10} {'rejected':>9}")
    for r in rows:
        print(f"{r['step']:<22} {r['seconds']:>7.2f} {r['records_per_s']:>10,.0f} {r['rejected']:>9}")
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
