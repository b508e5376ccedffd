"""Benchmark: `select.preselect` over a large pool, chunked (now, local and on Ray) beside the
previous implementation, which read every text of the pool into the driver and scored them in one
call (`predict_many`, spread over the cores), in one run.

    python benchmarks/preselect_pool.py [--n 1000000] [--every 50] [--baseline b80e45f]

Records: benchmarks/make_records.py's. One record in `every` has a predictive strength (seeded:
a tenth at 1.0, the rest uniform), as `score.predictive_strength` leaves a sample scored; the
others have none. The recipe is the one step, at its defaults (the top 10% of characters). The
baseline is the given commit's code (a git worktree), run by the same interpreter. Reported per
run: wall seconds and the peak summed RSS of the whole process tree; the step's stage: its
seconds and the run's own peak (`peak_rss_mib`). final.parquet and rejected.parquet are compared
byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import ROOT, baseline_env, same_files, timed_run  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "preselect_pool"


def pool(n: int, every: int) -> Path:
    """make_records' records, one in `every` with a `strength`, written once."""
    import make_records

    def strength(k: int, record: dict, rng) -> None:
        if k % every == 0:
            record["strength"] = 1.0 if rng.random() < 0.1 else round(float(rng.random()), 3)
    return make_records.records_with(n, WORK / f"pool-{n}-{every}.jsonl", strength)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--every", type=int, default=50, help="one record in this many has a strength")
    ap.add_argument("--baseline", default="b80e45f", help="the commit whose preselect read the whole pool")
    args = ap.parse_args()
    records = pool(args.n, args.every)
    recipe = WORK / f"preselect-{args.n}.yaml"
    recipe.write_text(yaml.safe_dump({"name": "preselect", "steps": [
        {"use": "select.preselect", "with": {"strength": "strength"}}], "inputs": [
        {"path": str(records), "format": "alpaca", "keep": ["strength"]}]}, sort_keys=False))
    old = baseline_env(args.baseline)
    runs = {}
    for name, engine, env in (("before", (), old), ("local", (), None),
                              ("ray-2", ("--engine", "ray", "--workers", "2"), None)):
        r, runs[name] = timed_run(recipe, WORK / "runs" / name, WORK / f"{name}.log", engine, env)
        stage = json.loads((runs[name] / "manifest.json").read_text())["stages"][-1]
        print(f"{name:<6} {r['seconds']:7.1f} s  tree peak {r['peak_gib']:5.2f} GiB  preselect stage "
              f"{stage['seconds']:6.1f} s, run's peak {stage['peak_rss_mib']:7.1f} MiB  kept {stage['kept']:,} "
              f"({stage['stats']['positives']:,} positives)", flush=True)
    for name in ("local", "ray-2"):
        print(f"{name}: final.parquet and rejected.parquet identical to before: "
              f"{'yes' if same_files(runs[name], runs['before']) else 'NO'}")

if __name__ == "__main__":
    main()
