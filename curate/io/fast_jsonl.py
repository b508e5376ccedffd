"""Fast path for flat formats in JSONL: pyarrow's JSON reader parses whole chunks of lines at once.

The per-line reader (orjson + adapter) is exact but costs tens of microseconds a record. For a
flat format (Alpaca, Dolly, prompt/completion, ...) a chunk of clean lines maps column for column,
so pyarrow reads it in one multi-threaded call, with a strict schema. Any doubt about a chunk (invalid UTF-8, a malformed
line, a blank line, a missing or non-text field, nested history) sends that chunk back to the
per-line reader, which produces exactly the same records and the precise error or ledger rows.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import polars as pl
import pyarrow as pa
import pyarrow.json as pj

from ..formats.base import Mapping
from ..formats.flat import PROMPT_SUFFIXES
from ..records import CORE_COLUMNS, SCHEMA, content_id

CHUNK_BYTES = 32 << 20


def line_chunks(path: Path, size: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(first line number, bytes of whole lines) pieces of a file."""
    size = size or CHUNK_BYTES
    line = 1
    rest = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(size)
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                rest = block
                continue
            chunk, rest = block[:cut], block[cut:]
            yield line, chunk
            line += chunk.count(b"\n")
    if rest:
        yield line, rest          # the last line has no newline (and may be cut off: the reader says so)


def line_spans(path: Path) -> Iterator[tuple[int, int, int]]:
    """(first line number, byte offset, byte length) of the pieces `line_chunks` gives, so that
    another process can read and parse a piece by itself (`read_span`)."""
    offset = 0
    for first_line, chunk in line_chunks(path):
        yield first_line, offset, len(chunk)
        offset += len(chunk)


def read_span(path: Path | str, offset: int, length: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def fast_frame(chunk: bytes, first_line: int, name: str, mapping: Mapping, source: str, task: str | None,
               source_from_data: bool = True, strip_eos: bool = True) -> pl.DataFrame | None:
    """Canonical records for a clean chunk, or None when the chunk needs the per-line reader."""
    keys = {name_: str(mapping[name_]) for name_ in ("instruction", "response", "context", "system", "task",
                                                     "source") if mapping.get(name_) is not None}
    fields = [pa.field(k, pa.string()) for k in dict.fromkeys(keys.values())]
    if mapping.get("history") is not None:
        fields.append(pa.field(str(mapping["history"]), pa.null()))  # any real turns -> per-line reader
    try:  # pyarrow does not validate UTF-8: a bad byte must go to the per-line reader (encoding_error)
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:  # strict: a number, object or list where text is expected fails the chunk
        table = pj.read_json(io.BytesIO(chunk), parse_options=pj.ParseOptions(
            explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    raw = pl.from_arrow(table)
    if raw.height != chunk.count(b"\n") + (not chunk.endswith(b"\n")):
        return None  # blank lines: line numbers would not line up
    if any(raw[keys[r]].null_count() for r in ("instruction", "response") if r in keys):
        return None  # a missing required field: the per-line reader names it
    cols = {name_: pl.col(key) for name_, key in keys.items()}
    if "response" not in keys:
        cols["response"] = pl.lit("")
    frame = raw.select(**cols)
    if strip_eos:
        frame = frame.with_columns(_strip_suffixes(pl.col(c)) for c in ("instruction", "response"))
    if "context" in frame.columns:
        frame = frame.with_columns(pl.when(pl.col("context") == "").then(None).otherwise(pl.col("context"))
                                   .alias("context"))
    has_source = source_from_data and "source" in frame.columns
    frame = frame.with_columns(
        pl.when(pl.col("source").is_null() | (pl.col("source") == "")).then(pl.lit(source))
        .otherwise(pl.col("source")).alias("source") if has_source else pl.lit(source).alias("source"),
        (pl.lit(task) if task is not None else
         (pl.col("task").fill_null("") if "task" in frame.columns else pl.lit(""))).alias("task"),
        pl.format(f"{name}:{{}}", pl.int_range(first_line, first_line + raw.height)).alias("origin"),
    )
    for c in CORE_COLUMNS:
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=SCHEMA[c]).alias(c))
    ctx = frame["context"].to_list()
    sysm = frame["system"].to_list()
    ids = [content_id(i, c, r, s, None) for i, c, r, s in
           zip(frame["instruction"].to_list(), ctx, frame["response"].to_list(), sysm)]
    frame = frame.with_columns(pl.Series("id", ids, dtype=pl.Utf8))
    return frame.select([pl.col(c).cast(SCHEMA[c]) for c in CORE_COLUMNS])


def _strip_suffixes(expr: pl.Expr) -> pl.Expr:
    for suffix in PROMPT_SUFFIXES:
        expr = expr.str.strip_suffix(suffix)
    return expr
