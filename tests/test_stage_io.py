"""Stage input and output overlapped with the step: read-ahead and background writing keep the
order, surface errors where they happen, leave no thread or half-written file behind; the run's
allocator choice and per-stage peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.engines.background import BackgroundWriter, prefetched
from curate.engines.parquet_out import ParquetOut
from curate.process_memory import peak_mib, reset_peak
from curate.recipe import Recipe
from curate.runner import Runner
from conftest import alpaca, write_jsonl


def _threads(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix)]


def test_read_ahead_keeps_order_and_raises_the_producers_error_in_place():
    assert list(prefetched(iter(range(100)))) == list(range(100))

    def failing():
        yield 1
        yield 2
        raise ValueError("bad row group")

    seen = []
    with pytest.raises(ValueError, match="bad row group"):
        for item in prefetched(failing()):
            seen.append(item)
    assert seen == [1, 2]
    assert not _threads("curate-read-ahead")


def test_a_consumer_that_stops_early_stops_the_read_ahead_thread():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    items = prefetched(endless(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert not _threads("curate-read-ahead")
    assert len(produced) <= 3 + 2 + 1    # never more than `depth` ahead (plus the one being put)


def test_background_writer_raises_the_first_error_and_drops_the_rest():
    written = []

    def write(item):
        if item == 3:
            raise OSError("disk full")
        written.append(item)

    writer = BackgroundWriter(write, "t")
    with pytest.raises(OSError, match="disk full"):
        for i in range(10):
            writer.submit(i)
        writer.finish()
    assert written == [0, 1, 2]
    writer.cancel()
    assert not _threads("curate-write-t")


def test_parquet_out_writes_every_batch_in_order(tmp_path):
    path = tmp_path / "out.parquet"
    frames = [pl.DataFrame({"id": [f"{b}-{i}" for i in range(1000)], "n": list(range(1000))}) for b in range(25)]
    with ParquetOut(path) as out:
        for frame in frames:
            out.write(frame)
        out.write(frames[0].head(0))
    assert pq.read_table(path).to_pydict() == pl.concat(frames).to_arrow().to_pydict()
    assert not _threads("curate-write-")


def test_parquet_out_casts_a_batch_with_other_types_and_rejects_other_columns(tmp_path):
    path = tmp_path / "out.parquet"
    with ParquetOut(path) as out:
        out.write(pl.DataFrame({"id": ["a"], "n": [1]}, schema={"id": pl.Utf8, "n": pl.Int64}))
        out.write(pl.DataFrame({"n": [2], "id": ["b"]}, schema={"n": pl.Int32, "id": pl.Utf8}))
    assert pq.read_table(path).to_pydict() == {"id": ["a", "b"], "n": [1, 2]}
    broken = tmp_path / "broken.parquet"
    with pytest.raises(RuntimeError, match="do not match the first batch"):
        with ParquetOut(broken) as out:
            out.write(pl.DataFrame({"id": ["a"], "n": [1]}))
            out.write(pl.DataFrame({"other": ["b"]}))
    assert not broken.exists() and not list(tmp_path.glob("*.tmp-*"))


def test_a_failed_background_write_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "out.parquet"

    def refuse(self, table, row_group_size=None):
        raise OSError("No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", refuse)
    with pytest.raises(OSError, match="No space left"):
        with ParquetOut(path) as out:
            for _ in range(5):
                out.write(pl.DataFrame({"id": ["a"] * 100}))
    assert not path.exists() and not list(tmp_path.glob("*.tmp-*"))


def test_the_cli_asks_arrow_for_jemalloc_unless_the_user_chose():
    code = ("import curate.cli, sys; curate.cli._quiet(); import pyarrow as pa; "
            "print(pa.default_memory_pool().backend_name)")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow build has no jemalloc")
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert chosen.stdout.strip() == "jemalloc"
    kept = subprocess.run([sys.executable, "-c", code], env={**env, "ARROW_DEFAULT_MEMORY_POOL": "system"},
                          capture_output=True, text=True, check=True)
    assert kept.stdout.strip() == "system"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peak is reset through /proc (Linux)")
def test_peak_memory_is_reset_between_stages():
    reset_peak()
    base = peak_mib()
    block = bytearray(300 << 20)          # zero-filled: every page is touched
    assert peak_mib() >= base + 250
    del block
    reset_peak()
    assert peak_mib() < base + 100


def test_the_manifest_records_each_stages_peak_memory(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(200)])
    recipe = Recipe(name="t", inputs=[{"path": "in.jsonl"}], steps=[{"use": "normalize.text"}],
                    base_dir=str(tmp_path))
    runner = Runner(recipe, tmp_path / "runs", progress=False)
    runner.run()
    import orjson
    stages = orjson.loads((runner.run_dir / "manifest.json").read_bytes())["stages"]
    assert [s["step"] for s in stages] == ["read", "normalize.text"]
    assert all(s["peak_rss_mib"] > 10 for s in stages)
