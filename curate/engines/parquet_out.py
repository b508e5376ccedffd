"""Append-only Parquet writer that writes to a temporary name and renames only when complete.

Every batch is cast to the schema of the first one, so a step that adds a column must add it to
every batch; a mismatch is a clear error instead of a corrupt file.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


def tmp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


class ParquetOut:
    def __init__(self, path: Path, empty_schema: dict | None = None):
        self.path = path
        self.tmp = tmp_name(path)
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.empty_schema = empty_schema
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height == 0 and self.writer is not None:
            return
        table = frame.to_arrow()
        if self.writer is None:
            if frame.height == 0:
                self.empty_schema = frame.schema  # remember the columns even if nothing comes
                return
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        elif table.schema != self.schema:
            try:
                table = table.select(self.schema.names).cast(self.schema)
            except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise RuntimeError(f"{self.path.name}: batch columns {table.schema.names} do not match "
                                   f"the first batch {self.schema.names}: {exc}") from None
        self.writer.write_table(table)
        self.rows += frame.height

    def close(self) -> Path:
        """Finish the file and move it into place. An empty output keeps the column schema."""
        if self.writer is None:
            pl.DataFrame(schema=self.empty_schema or {}).write_parquet(self.tmp, compression="zstd")
        else:
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
            try:
                self.writer.close()
            except Exception:
                pass
        self.tmp.unlink(missing_ok=True)
