"""Benchmark: recipes/clean.yaml's steps on generated records at growing sizes, on the local
engine and on Ray with 1 and 2 workers, side by side in one run.

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--engines local,ray-1,ray-2]
                               [--steps-from benchmarks/exact_dedup.yaml or near_dedup.yaml]
    python benchmarks/scale.py --sizes 20000 --engines local,ray-2 \
                               --steps-from benchmarks/semantic_dedup.yaml --cold-embeddings
    python benchmarks/scale.py --sizes 1000000 --engines local,ray-2 \
                               --steps-from benchmarks/semantic_dedup.yaml --one-cold-cache

Records come from benchmarks/make_records.py (~1 KB Alpaca records with planted duplicates and
junk). Every run is its own `curate run --fresh` process; we report input records per wall second
and the peak of the summed resident memory of the whole process tree (the driver, and on Ray the
raylet, GCS and every worker: sampled every 0.2 s, since RUSAGE_CHILDREN reports only the largest
single process). Each Ray run's final.parquet and rejected.parquet are compared byte for byte with
the local run's at the same size. `--cold-embeddings` gives every run an empty embedding cache
(with the machine's backend measurements copied, so every run embeds with the same backend and
none re-times them), so a second run does not read the first one's vectors; `--one-cold-cache`
gives the runs at one size one cache, empty for the first (the second reads the first's vectors:
the engines are compared at a size where embedding twice would take hours). Results:
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work" / "scale"
sys.path.insert(0, str(ROOT / "benchmarks"))


def tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        children = root.children(recursive=True)
    except psutil.Error:                                  # the run has just ended
        children = []
    for proc in [root, *children]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure_tree(cmd: list[str], log: Path, env: dict | None = None) -> dict:
    """Wall seconds, exit code and the peak summed RSS (GiB) of `cmd`'s process tree."""
    peak = 0
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        root = psutil.Process(proc.pid)
        done = threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(root))
                done.wait(0.2)
        sampler = threading.Thread(target=sample)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    return {"seconds": time.perf_counter() - start, "peak_gib": peak / 2**30, "exit": code}


def timed_run(recipe: Path, out: Path, log: Path, args: tuple = (), env: dict | None = None) -> tuple[dict, Path]:
    """`curate run RECIPE --fresh -q --out OUT ARGS`, measured (`measure_tree`), and its run folder;
    a failed run stops the benchmark, naming its log."""
    shutil.rmtree(out, ignore_errors=True)
    curate = str(Path(sys.executable).with_name("curate"))
    r = measure_tree([curate, "run", str(recipe), "--fresh", "-q", "--out", str(out), *args], log, env)
    if r["exit"]:
        sys.exit(f"{out.name} failed: see {log}")
    return r, Path(log.read_text().strip().splitlines()[-1])


def baseline_env(commit: str) -> dict:
    """The environment that runs an earlier commit's code (a git worktree of it, checked out once
    under benchmarks/work/baselines) with this interpreter: for before/after benchmarks."""
    folder = ROOT / "benchmarks" / "work" / "baselines" / commit
    if not (folder / "curate").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), commit], check=True)
    return {**os.environ, "PYTHONPATH": str(folder)}


def same_files(a: Path, b: Path) -> bool:
    """Whether two runs' final.parquet and rejected.parquet are byte-identical."""
    return all((a / f).read_bytes() == (b / f).read_bytes() for f in ("final.parquet", "rejected.parquet"))


def recipe_for(records: Path, out: Path, steps_from: Path) -> Path:
    """A recipe's steps (clean.yaml's by default) over one generated file (paths in steps resolve
    from the repository)."""
    spec = yaml.safe_load(steps_from.read_text())
    spec.update(name="scale", inputs=[{"path": str(records), "format": "alpaca"}])
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return out


def cold_cache(folder: Path) -> dict:
    """The environment for a run with an empty embedding cache in `folder` (the backend
    measurements and the OpenVINO export copied from the user's cache)."""
    from curate.user_cache import cache_dir
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "embeddings").mkdir(parents=True)
    mine = cache_dir() / "embeddings"
    if (mine / "backends.json").is_file():
        shutil.copy(mine / "backends.json", folder / "embeddings" / "backends.json")
    if (mine / "openvino").is_dir():                     # the model exported once: not vectors
        shutil.copytree(mine / "openvino", folder / "embeddings" / "openvino")
    return {**os.environ, "CURATE_CACHE": str(folder)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--engines", default="local,ray-1,ray-2")
    ap.add_argument("--steps-from", default=str(ROOT / "recipes" / "clean.yaml"),
                    help="the recipe whose steps run (e.g. benchmarks/exact_dedup.yaml)")
    ap.add_argument("--cold-embeddings", action="store_true", help="an empty embedding cache for every run")
    ap.add_argument("--one-cold-cache", action="store_true",
                    help="one embedding cache for the runs at a size, empty at the first: the first engine embeds, "
                         "the others read its vectors (so they compare engines without embedding again)")
    ap.add_argument("--drop-stages", action="store_true",
                    help="delete each run's stage files once it is timed (5M records through clean.yaml write "
                         "about 17 GB of them per run)")
    args = ap.parse_args()
    import make_records
    WORK.mkdir(parents=True, exist_ok=True)
    curate = str(Path(sys.executable).with_name("curate"))
    rows = []
    for n in map(int, args.sizes.split(",")):
        data = WORK / f"n{n}"
        if not (data / "records.jsonl").is_file():
            make_records.main(n, data)
        recipe = recipe_for(data / "records.jsonl", WORK / f"scale-{n}.yaml", Path(args.steps_from))
        finals: dict[str, Path] = {}
        for engine in args.engines.split(","):
            out = WORK / "runs" / f"{engine}-{n}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [curate, "run", str(recipe), "--fresh", "-q", "--out", str(out)]
            if engine.startswith("ray"):
                cmd += ["--engine", "ray", "--workers", engine.split("-")[1]]
            log = WORK / f"{engine}-{n}.log"
            env = cold_cache(WORK / "cache" / f"{engine}-{n}") if args.cold_embeddings else None
            if args.one_cold_cache:
                shared = WORK / "cache" / f"shared-{n}"
                first = engine == args.engines.split(",")[0]
                env = cold_cache(shared) if first else {**os.environ, "CURATE_CACHE": str(shared)}
            r = measure_tree(cmd, log, env)
            run_dir = Path(log.read_text().strip().splitlines()[-1]) if r["exit"] == 0 else None
            kept = json.loads((run_dir / "manifest.json").read_text())["rows"]["final"] if run_dir else None
            same = ""
            if run_dir:
                finals[engine] = run_dir
                if engine != "local" and "local" in finals:
                    same = "yes" if all((run_dir / f).read_bytes() == (finals["local"] / f).read_bytes()
                                        for f in ("final.parquet", "rejected.parquet")) else "NO"
                if args.drop_stages:                 # after timing: final, ledger and manifest stay
                    shutil.rmtree(run_dir / "stages", ignore_errors=True)
            rows.append({"records": n, "engine": engine, **r, "rec_per_s": n / r["seconds"], "kept": kept,
                         "identical_to_local": same})
            print(f"{n:>9,} {engine:<6} {r['seconds']:8.1f} s {n / r['seconds']:9,.0f} rec/s "
                  f"{r['peak_gib']:6.2f} GiB  kept {kept}  identical {same or '-'}  exit {r['exit']}", flush=True)
    (WORK / f"scale-{Path(args.steps_from).stem}.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{'records':>9} {'engine':<6} {'seconds':>8} {'rec/s':>9} {'peak GiB':>9} {'same':>5}")
    for r in rows:
        print(f"{r['records']:>9,} {r['engine']:<6} {r['seconds']:8.1f} {r['rec_per_s']:9,.0f} "
              f"{r['peak_gib']:9.2f} {r['identical_to_local'] or '-':>5}")


if __name__ == "__main__":
    main()
