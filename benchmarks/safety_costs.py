"""Benchmark: what the "nothing escapes, nothing is lost" guards cost at the defaults a user gets.

1. CSV/TSV reading. curate now reads CSV row by row with Python's `csv` module (so a bad row is
   quarantined with its own line instead of failing the file); before, polars read the whole file
   and its rows were then turned into dicts. Both are timed to the same point (row dicts with their
   locations), on two shapes: short rows, and long rows with quoted multi-line fields.
2. `normalize.text` worker pool: `spawn` workers that die with their parent (now) against the
   `forkserver` pool used before, on a small and a large batch of texts that need ftfy (the first
   call includes starting the pool).
3. `curate sql` statement check: the parse-and-check time per query.

    python benchmarks/safety_costs.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import string
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write_csv(path: Path, rows: int, long: bool) -> None:
    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(2000)]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt", "answer", "category"])
        for i in range(rows):
            n = 60 if long else 8
            prompt = " ".join(rng.choices(words, k=n))
            answer = " ".join(rng.choices(words, k=n * 3))
            if long and i % 3 == 0:
                answer = answer.replace(" ", "\n", 4).replace(" ", ", ", 2)  # quoted: newlines and commas
            out.writerow([prompt, answer, f"cat{i % 7}"])


def polars_rows(path: Path) -> int:
    """The reader before: polars reads the whole file, then rows become dicts."""
    import polars as pl
    frame = pl.read_csv(io.StringIO(path.read_text(encoding="utf-8")), infer_schema=False)
    return sum(1 for i, row in enumerate(frame.iter_rows(named=True)) if (row, f"x:{i + 2}"))


def curate_rows(path: Path) -> int:
    from curate.io.files import iter_csv
    return sum(1 for _ in iter_csv(path, path.name, ",", True))


def best_of(fn, *args, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def bench_csv(rows: int) -> None:
    print("CSV reading (rows to dicts with locations), best of 3")
    print(f"{'shape':<22}{'rows':>9}{'MB':>7}{'polars s':>10}{'curate s':>10}{'curate/polars':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for shape, long, n in (("short rows", False, rows), ("long, quoted newlines", True, rows // 5)):
            path = Path(tmp) / f"{shape[:4]}.csv"
            write_csv(path, n, long)
            assert polars_rows(path) == curate_rows(path) == n
            a, b = best_of(polars_rows, path), best_of(curate_rows, path)
            print(f"{shape:<22}{n:>9,}{path.stat().st_size / 1e6:>7.1f}{a:>10.2f}{b:>10.2f}{b / a:>14.2f}x")


def _pool_run(kind: str, texts: list[str]) -> float:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial
    from curate.steps.normalize.text import fix_one
    from curate.workers import process_pool
    start = time.perf_counter()
    pool = process_pool(2) if kind == "spawn" else ProcessPoolExecutor(
        2, mp_context=multiprocessing.get_context("forkserver"))
    with pool:
        list(pool.map(partial(fix_one, form="NFC", fix_unicode=True), texts, chunksize=128))
    return time.perf_counter() - start


def bench_pool() -> None:
    print("\nnormalize.text pool, 2 workers, pool start included, best of 3")
    print(f"{'texts':>8}{'forkserver s':>14}{'spawn+guard s':>15}{'ratio':>8}")
    for n in (4_000, 100_000):
        texts = [f"Caf\u00c3\u00a9 question {i} na\u00efve &amp; more" for i in range(n)]
        a = min(_pool_run("forkserver", texts) for _ in range(3))
        b = min(_pool_run("spawn", texts) for _ in range(3))
        print(f"{n:>8,}{a:>14.2f}{b:>15.2f}{b / a:>7.2f}x")


def bench_sql_check() -> None:
    from curate.io.read_only_sql import read_statements
    queries = ["SELECT count(*) FROM final",
               "WITH a AS (SELECT reason, count(*) n FROM rejected GROUP BY 1) SELECT * FROM a ORDER BY n DESC; "
               "DESCRIBE final"]
    read_statements(queries[0])
    print("\ncurate sql statement check, mean of 200")
    for q in queries:
        start = time.perf_counter()
        for _ in range(200):
            read_statements(q)
        print(f"  {(time.perf_counter() - start) / 200 * 1e3:.3f} ms  {q[:60]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    bench_csv(args.rows)
    bench_pool()
    bench_sql_check()


if __name__ == "__main__":
    main()
