"""Benchmark: the quickstart-style pipeline (normalize, length filter, exact dedup, SQL filter) on
generated ~1 KB records, curate vs datatrove vs Data-Juicer, same input and machine, one run.

    python benchmarks/core_pipeline.py --n 1000000 [--peers benchmarks/work/peers] [--skip dj]

Each tool runs as its own process; we report records/s (input records / wall seconds) and peak RSS.
Peers run from their own virtualenvs (benchmarks/setup_peers.sh). Results: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--peers", default=str(ROOT / "benchmarks/work/peers"))
    ap.add_argument("--skip", action="append", default=[], help="datatrove and/or dj")
    ap.add_argument("--dj-np", type=int, default=2)
    args = ap.parse_args()
    work = ROOT / "benchmarks" / "work"
    data = work / ("1m" if args.n == 1_000_000 else f"n{args.n}")
    if not (data / "records.jsonl").is_file():
        import make_records
        make_records.main(args.n, data)
    results = {}
    recipe = ROOT / "benchmarks" / "core_pipeline.yaml"
    curate = shutil.which("curate") or str(Path(sys.executable).with_name("curate"))
    results["curate"] = measure([curate, "run", str(recipe), "--fresh", "-q",
                                 "--set", f"inputs.0.path={data / 'records.jsonl'}"], cwd=str(ROOT),
                                log=str(work / "curate.log"))
    run_dir = (work / "curate.log").read_text().strip().splitlines()[-1]
    manifest = json.loads((ROOT / run_dir / "manifest.json").read_text())
    results["curate"]["kept"] = manifest["rows"]["final"]
    peers = Path(args.peers)
    if "datatrove" not in args.skip:
        out = work / "datatrove"
        shutil.rmtree(out, ignore_errors=True)
        results["datatrove"] = measure([str(peers / "dt/bin/python"), str(ROOT / "benchmarks/peers/datatrove_pipeline.py"),
                                        str(data), str(out)], log=str(work / "datatrove.log"))
        results["datatrove"]["kept"] = sum(_count_lines(p) for p in (out / "out").glob("*.jsonl*"))
    if "dj" not in args.skip:
        out = work / "dj"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        results["data-juicer"] = measure([str(peers / "dj/bin/python"), str(ROOT / "benchmarks/peers/data_juicer_pipeline.py"),
                                          str(data), str(out), str(args.dj_np)], log=str(work / "dj.log"))
        results["data-juicer"]["kept"] = _count_lines(out / "out.jsonl") if (out / "out.jsonl").is_file() else 0
    print(f"{'tool':<12} {'seconds':>9} {'records/s':>10} {'peak RSS GiB':>13} {'kept':>9} exit")
    for name, r in results.items():
        r["records_per_s"] = args.n / r["seconds"]
        print(f"{name:<12} {r['seconds']:>9.1f} {r['records_per_s']:>10.0f} {r['peak_rss_gib']:>13.2f} "
              f"{r['kept']:>9} {r['exit']}")
    peers_ok = [r for k, r in results.items() if k != "curate" and r["exit"] == 0]
    if peers_ok:
        best = max(r["records_per_s"] for r in peers_ok)
        print(f"curate / fastest peer throughput: {results['curate']['records_per_s'] / best:.1f}x")
    (work / "core_pipeline.json").write_text(json.dumps(results, indent=2))


def _count_lines(path: Path) -> int:
    import gzip
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return sum(1 for _ in fh)


if __name__ == "__main__":
    main()
