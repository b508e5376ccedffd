"""Benchmark: curate on Ray beside Data-Juicer's Ray mode, the same operators on the same records,
with the local engine as the reference, in one run.

    python benchmarks/ray_peers.py [--n 100000] [--peers benchmarks/work/peers]

Operators (the core pipeline of RESULTS.md): Unicode fix (ftfy), word-count filter (5-2000),
exact dedup (lowercased); curate also drops "lorem ipsum" instructions with a SQL filter, which
Data-Juicer has no operator for (it keeps those ~0.1% of records). Both Ray runs start a local Ray
instance on this machine's CPUs (curate: `--engine ray --workers 2`; Data-Juicer:
`executor_type: ray`, `ray_address: local`). Reported: input records per wall second and the peak
summed RSS of each command's whole process tree. Data-Juicer runs from its own virtualenv
(benchmarks/setup_peers.sh); it is skipped with a note when that is missing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import ROOT, measure_tree  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "ray_peers"


def count_lines(folder: Path) -> int:
    return sum(sum(1 for _ in open(p, "rb")) for p in folder.rglob("*.json*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--peers", default=str(ROOT / "benchmarks/work/peers"))
    args = ap.parse_args()
    import make_records
    data = ROOT / "benchmarks" / "work" / f"n{args.n}"
    if not (data / "records.jsonl").is_file():
        make_records.main(args.n, data)
    WORK.mkdir(parents=True, exist_ok=True)
    curate = str(Path(sys.executable).with_name("curate"))
    recipe = ROOT / "benchmarks" / "core_pipeline.yaml"
    rows = []
    for name, extra in [("curate local", []), ("curate ray, 2 workers", ["--engine", "ray", "--workers", "2"])]:
        out = WORK / name.replace(" ", "-").replace(",", "")
        shutil.rmtree(out, ignore_errors=True)
        log = WORK / f"{out.name}.log"
        r = measure_tree([curate, "run", str(recipe), "--fresh", "-q", "--out", str(out),
                          "--set", f"inputs.0.path={data / 'records.jsonl'}", *extra], log)
        run_dir = Path(log.read_text().strip().splitlines()[-1]) if r["exit"] == 0 else None
        r["kept"] = json.loads((run_dir / "manifest.json").read_text())["rows"]["final"] if run_dir else None
        rows.append((name, r))
    dj_python = Path(args.peers) / "dj" / "bin" / "python"
    if dj_python.is_file():
        out = WORK / "data-juicer-ray"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        r = measure_tree([str(dj_python), str(ROOT / "benchmarks/peers/data_juicer_pipeline.py"), str(data),
                          str(out), "ray"], WORK / "data-juicer-ray.log")
        r["kept"] = count_lines(out / "out") if (out / "out").exists() else None
        rows.append(("data-juicer ray", r))
    else:
        print(f"Data-Juicer skipped: {dj_python} not found (bash benchmarks/setup_peers.sh)")
    print(f"\n{'tool':<24} {'seconds':>8} {'rec/s':>9} {'peak GiB':>9} {'kept':>9} exit")
    for name, r in rows:
        print(f"{name:<24} {r['seconds']:8.1f} {args.n / r['seconds']:9,.0f} {r['peak_gib']:9.2f} "
              f"{r['kept'] if r['kept'] is not None else '-':>9} {r['exit']}")


if __name__ == "__main__":
    main()
