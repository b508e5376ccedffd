"""Benchmark: `select.tasks` over a large pool, reading only the sampled examples' texts (now)
beside the previous code, which read every record's text into the driver first, in one run.

    python benchmarks/tasks_pool.py [--n 1000000] [--tasks 5] [--baseline b80e45f]

Records: benchmarks/make_records.py's, record k in group `t{k % tasks}`; the target: 200 records
of the 10k set. The step at its defaults (1,000 examples per task, the combined ranking, top 3).
The embedding cache is warmed by a first, untimed run, so both timed runs read the same vectors
from it and the seconds compare the steps, not the embedding. Reported per run: wall seconds,
the peak summed RSS of the process tree, the stage's seconds and the run's own peak
(`peak_rss_mib`). final.parquet and rejected.parquet are compared byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import ROOT, baseline_env, same_files, timed_run  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "tasks_pool"


def main() -> None:
    import make_records
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--tasks", type=int, default=5)
    ap.add_argument("--baseline", default="b80e45f", help="the commit whose select.tasks read every text")
    args = ap.parse_args()

    def task(k: int, record: dict, rng) -> None:
        record["group"] = f"t{k % args.tasks}"
    records = make_records.records_with(args.n, WORK / f"pool-{args.n}-{args.tasks}.jsonl", task)
    target = make_records.records_with(10_000, WORK / "target-all.jsonl", lambda k, r, rng: None)
    (WORK / "target.jsonl").write_bytes(b"".join(target.read_bytes().splitlines(keepends=True)[:200]))
    recipe = WORK / f"tasks-{args.n}.yaml"
    recipe.write_text(yaml.safe_dump({"name": "tasks", "steps": [
        {"use": "select.tasks", "with": {"target": str(WORK / "target.jsonl"), "group_by": "group"}}], "inputs": [
        {"path": str(records), "format": "alpaca", "keep": ["group"]}]}, sort_keys=False))
    old = baseline_env(args.baseline)
    runs = {}
    for name, env in (("warm-up", None), ("before", old), ("now", None)):
        r, runs[name] = timed_run(recipe, WORK / "runs" / name, WORK / f"{name}.log", (), env)
        stage = json.loads((runs[name] / "manifest.json").read_text())["stages"][-1]
        print(f"{name:<7} {r['seconds']:7.1f} s  tree peak {r['peak_gib']:5.2f} GiB  select.tasks stage "
              f"{stage['seconds']:6.1f} s, run's peak {stage['peak_rss_mib']:7.1f} MiB  kept {stage['kept']:,} "
              f"(tasks {', '.join(stage['stats']['kept_tasks'])})", flush=True)
    print(f"final.parquet and rejected.parquet identical to before: "
          f"{'yes' if same_files(runs['now'], runs['before']) else 'NO'}")

if __name__ == "__main__":
    main()
