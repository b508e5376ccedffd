"""Benchmark: how fast `curate report` writes the page of a big run, and how fast the page opens.

    python benchmarks/report_speed.py --n 10000 --n 1000000 [--embed]

For each size, generated records (benchmarks/make_records.py, ~1 KB each) go through the core
pipeline recipe (benchmarks/core_pipeline.yaml), then `curate report RUN` runs as a user runs it
(a fresh process: imports, reading the stages, drawing); we record its wall time and peak RSS, the
page's size, and the time headless Chromium takes to load the page and dump its DOM (Debian's
`chromium`; skipped with a note when absent), against the same load of an empty page, so the
browser's own start is visible. Results: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def curate_bin() -> str:
    return shutil.which("curate") or str(Path(sys.executable).with_name("curate"))


def run_for(n: int) -> Path:
    """The core pipeline's run over n generated records (reused when already finished)."""
    data = WORK / ("1m" if n == 1_000_000 else f"n{n}")
    if not (data / "records.jsonl").is_file():
        import make_records
        make_records.main(n, data)
    log = WORK / f"report-run-{n}.log"
    result = measure([curate_bin(), "run", str(ROOT / "benchmarks/core_pipeline.yaml"), "-q",
                      "--set", f"inputs.0.path={data / 'records.jsonl'}"], cwd=str(ROOT), log=str(log))
    if result["exit"]:
        raise SystemExit(f"curate run failed, see {log}")
    return ROOT / log.read_text().strip().splitlines()[-1]


def browser_load(page: Path) -> float | None:
    """Seconds for headless Chromium to load `page` and print its DOM (None without Chromium)."""
    if not CHROMIUM:
        return None
    with tempfile.TemporaryDirectory() as profile:
        flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]
        start = time.perf_counter()
        subprocess.run(flags, capture_output=True, timeout=300, check=True)
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, action="append", help="records per run (repeatable)")
    ap.add_argument("--embed", action="store_true", help="also embed up to 2,000 records for the map")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    empty = WORK / "empty.html"
    empty.write_text("<!doctype html><title>empty</title><p>empty</p>")
    blank = browser_load(empty)
    rows = []
    for n in args.n or [10_000, 1_000_000]:
        run_dir = run_for(n)
        page = WORK / f"report-{n}.html"
        cmd = [curate_bin(), "report", str(run_dir), "--out", str(page)] + (["--embed"] if args.embed else [])
        result = measure(cmd, cwd=str(ROOT), log=str(WORK / f"report-{n}.log"))
        if result["exit"]:
            raise SystemExit(f"curate report failed, see {WORK / f'report-{n}.log'}")
        manifest = json.loads((run_dir / "manifest.json").read_text())
        load = browser_load(page)
        rows.append({"records": n, "final": manifest["rows"]["final"], "report_s": round(result["seconds"], 1),
                     "peak_rss_gib": round(result["peak_rss_gib"], 2), "page_mb": round(page.stat().st_size / 2**20, 2),
                     "browser_load_s": None if load is None else round(load, 2),
                     "sampled": "seeded sample" in page.read_text(encoding="utf-8")})
    print(f"{'records':>9} {'final':>9} {'report s':>9} {'RSS GiB':>8} {'page MB':>8} {'load s':>7} sampled")
    for r in rows:
        load = "-" if r["browser_load_s"] is None else f"{r['browser_load_s']:.2f}"
        print(f"{r['records']:>9,} {r['final']:>9,} {r['report_s']:>9.1f} {r['peak_rss_gib']:>8.2f} "
              f"{r['page_mb']:>8.2f} {load:>7} {r['sampled']}")
    if blank is not None:
        print(f"an empty page loads in {blank:.2f} s (the browser's own start)")
    (WORK / "report_speed.json").write_text(json.dumps({"rows": rows, "empty_page_s": blank}, indent=2))


if __name__ == "__main__":
    main()
