"""Benchmark: selection cut-offs on Ray (found from the workers' slice summaries) beside the local
engine (which gathers the ranking columns on the driver), in one run.

    python benchmarks/ray_selection.py [--n 1000000]

Records: benchmarks/make_records.py's, each given a random score with many ties (0-999) and 1%
missing. Steps: `select.sample` (fraction 0.8), then `select.top` (the best half by score).
Reported per engine: wall seconds and the peak summed RSS of the whole process tree; per stage:
its seconds and the driver's own peak (`peak_rss_mib` in manifest.json, the memory the cut-off
work needs on the driver). final.parquet and rejected.parquet are compared byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import ROOT, same_files, timed_run  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "ray_selection"
STEPS = [{"use": "select.sample", "with": {"fraction": 0.8}},
         {"use": "select.top", "with": {"column": "score", "fraction": 0.5}}]


def scored_records(n: int) -> Path:
    """make_records' records with a `score` field, written once."""
    import make_records

    def score(k: int, record: dict, rng) -> None:
        record["score"] = None if rng.random() < 0.01 else int(rng.integers(0, 1000))
    return make_records.records_with(n, WORK / f"scored-{n}.jsonl", score)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args()
    records = scored_records(args.n)
    recipe = WORK / f"selection-{args.n}.yaml"
    recipe.write_text(yaml.safe_dump({"name": "selection", "steps": STEPS, "inputs": [
        {"path": str(records), "format": "alpaca", "keep": ["score"]}]}, sort_keys=False))
    runs = {}
    for engine in ("local", "ray-2"):
        engine_args = () if engine == "local" else ("--engine", "ray", "--workers", "2")
        r, runs[engine] = timed_run(recipe, WORK / "runs" / engine, WORK / f"{engine}.log", engine_args)
        stages = json.loads((runs[engine] / "manifest.json").read_text())["stages"][1:]
        print(f"{engine:<6} {r['seconds']:7.1f} s  tree peak {r['peak_gib']:5.2f} GiB  kept "
              f"{stages[-1]['kept']:,}")
        for s in stages:
            print(f"   {s['step']:<14} {s['seconds']:7.1f} s  driver peak {s['peak_rss_mib']:7.1f} MiB")
    same = same_files(runs["ray-2"], runs["local"])
    print(f"identical final.parquet and rejected.parquet: {'yes' if same else 'NO'}")

if __name__ == "__main__":
    main()
