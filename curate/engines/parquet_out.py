"""Append-only Parquet writer that writes to a temporary name and renames only when complete.

Every batch is cast to the schema of the first one, so a step that adds a column must add it to
every batch; a mismatch is a clear error instead of a corrupt file. Batches are converted and
compressed on a background thread, so the next batch is computed while this one is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .background import BackgroundWriter


def tmp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


class ParquetOut:
    def __init__(self, path: Path, empty_schema: dict | None = None):
        self.path = path
        self.tmp = tmp_name(path)
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.frame_schema: pl.Schema | None = None
        self.background: BackgroundWriter | None = None
        self.empty_schema = empty_schema
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            if self.writer is None:
                self.empty_schema = frame.schema  # remember the columns even if nothing comes
            return
        if self.writer is None:
            table = frame.to_arrow()
            self.schema, self.frame_schema = table.schema, frame.schema
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
            self.background = BackgroundWriter(self._write_now, self.path.name)
            self.background.submit(table)
        elif frame.schema == self.frame_schema:
            self.background.submit(frame)   # same columns: converted on the writer thread
        else:
            self.background.submit(self._conformed(frame.to_arrow()))
        self.rows += frame.height

    def _conformed(self, table: pa.Table) -> pa.Table:
        if table.schema == self.schema:
            return table
        try:
            return table.select(self.schema.names).cast(self.schema)
        except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise RuntimeError(f"{self.path.name}: batch columns {table.schema.names} do not match "
                               f"the first batch {self.schema.names}: {exc}") from None

    def _write_now(self, item: pl.DataFrame | pa.Table) -> None:
        table = item if isinstance(item, pa.Table) else self._conformed(item.to_arrow())
        self.writer.write_table(table)

    def flush(self) -> None:
        """Wait until every batch given so far is written; raise the writer's error, if any."""
        if self.background is not None:
            self.background.wait()

    def close(self) -> Path:
        """Finish the file and move it into place. An empty output keeps the column schema."""
        if self.writer is None:
            pl.DataFrame(schema=self.empty_schema or {}).write_parquet(self.tmp, compression="zstd")
        else:
            try:
                self.background.finish()
            except BaseException:
                self.abort()
                raise
            self.writer.close()
        os.replace(self.tmp, self.path)
        return self.path

    def __enter__(self) -> "ParquetOut":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Finished without an error: move the file into place; otherwise leave nothing behind."""
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def abort(self) -> None:
        if self.writer is not None:
            self.background.cancel()
            try:
                self.writer.close()
            except Exception:
                pass
        self.tmp.unlink(missing_ok=True)
