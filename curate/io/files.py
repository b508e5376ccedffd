"""Raw objects out of files: JSON, JSONL, CSV/TSV and Parquet, each with its location.

Every object comes with a location string (`file:LINE` for JSONL and CSV, `file[INDEX]` for JSON
arrays and Parquet rows, `file` for a whole-file object) so any later error can point at it.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import orjson

from ..errors import ConfigError, DataError

JSONL_EXT = {".jsonl", ".ndjson"}
CSV_EXT = {".csv": ",", ".tsv": "\t"}


@dataclass
class BadRow:
    """A row that could not be parsed; reported, or quarantined to the ledger."""

    loc: str
    reason: str
    detail: str


def search_roots(base_dir: str | None) -> list[Path]:
    """Where a relative path a recipe names is looked for: the working directory, then the recipe's folder."""
    return [Path.cwd()] + ([Path(base_dir)] if base_dir else [])


def find_file(path: str | Path, base_dir: str | None) -> Path | None:
    """The one file a (non-glob) path names, by the same rule as `resolve_files`; None when absent."""
    path = Path(path).expanduser()
    return next((root / path for root in search_roots(base_dir) if (root / path).is_file()), None)


def resolve_files(pattern: str, base_dir: str | None, where: str) -> list[Path]:
    """Expand a path or glob relative to the working directory, then to the recipe's folder."""
    for root in search_roots(base_dir):
        full = pattern if Path(pattern).is_absolute() else str(root / pattern)
        matches = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
        if matches:
            return matches
    raise ConfigError(f"{where}: no file matches '{pattern}' (looked in {Path.cwd()}"
                      + (f" and {base_dir}" if base_dir else "") + ")")


def display(path: Path) -> str:
    """A short, readable name for messages and origins: relative to the working directory."""
    try:
        return os.path.relpath(path.resolve(), Path.cwd())
    except ValueError:  # another drive on Windows
        return str(path.resolve())


def _utf8_error(data: bytes, exc: UnicodeDecodeError, name: str, first_line: int = 1) -> str:
    line = first_line + data.count(b"\n", 0, exc.start)
    col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    return f"{name}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {col})"


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(_utf8_error(data, exc, name) + "; re-encode the file as UTF-8") from None


def iter_jsonl(path: Path, name: str) -> Iterator[tuple[object, str] | BadRow]:
    with open(path, "rb") as fh:
        yield from iter_jsonl_lines(fh, name, 1)


def iter_jsonl_lines(lines, name: str, first_line: int) -> Iterator[tuple[object, str] | BadRow]:
    """Parse JSON lines; blank lines are skipped, bad ones become BadRow with their line number."""
    for lineno, line in enumerate(lines, first_line):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line), f"{name}:{lineno}"
        except orjson.JSONDecodeError as exc:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as uexc:
                yield BadRow(f"{name}:{lineno}", "encoding_error", _utf8_error(line, uexc, name, lineno))
                continue
            if not line.endswith(b"\n"):         # the last line of the file, with no newline
                yield BadRow(f"{name}:{lineno}", "parse_error", f"{name}:{lineno}: the file ends in the middle of a "
                             "record (its last line is cut off: was it still being written, or copied incompletely?)")
                continue
            yield BadRow(f"{name}:{lineno}", "parse_error",
                         f"{name}:{lineno}: malformed JSON ({exc.msg} at column {exc.colno})")


def _looks_like_jsonl(data: bytes) -> bool:
    first = data.lstrip().split(b"\n", 1)[0]
    try:
        return isinstance(orjson.loads(first), dict)
    except orjson.JSONDecodeError:
        return False


def iter_json(path: Path, name: str) -> Iterator[tuple[object, str] | BadRow]:
    """A JSON document: an array of records, or one object (a whole-file format, or a wrapper
    holding one list of records). Files named .json that are really JSONL are read as JSONL."""
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{name}: file is empty")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if _looks_like_jsonl(data):
            yield from iter_jsonl(path, name)
            return
        _decode(data, name)
        if exc.pos >= len(data.rstrip()):
            raise DataError(f"{name}:{exc.lineno}: the file ends in the middle of a record (cut off: was it still "
                            "being written, or copied incompletely?)") from None
        raise DataError(f"{name}:{exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(doc, list):
        for i, obj in enumerate(doc):
            yield obj, f"{name}[{i}]"
    elif isinstance(doc, dict):
        lists = [k for k, v in doc.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        from ..formats import FORMATS
        whole = any(f.whole_file and f.detect(set(doc)) for f in FORMATS.values())
        if not whole and len(doc) == 1 and lists:
            for i, obj in enumerate(doc[lists[0]]):
                yield obj, f"{name}[{i}]"
        else:
            yield doc, name
    else:
        raise DataError(f"{name}: expected a JSON array or object, got {type(doc).__name__}")


def iter_csv(path: Path, name: str, sep: str, header: bool) -> Iterator[tuple[object, str] | BadRow]:
    """Rows of a CSV (quoted fields, RFC 4180) or TSV (no quoting) file, each with the line it starts
    on. A row with more or fewer fields than the header, or with bytes that are not UTF-8, is a
    BadRow for that line alone, so `on_error: quarantine` keeps the rest of the file."""
    import csv
    check_bytes = not _is_utf8(path)          # only then can a row hold bytes that are not UTF-8
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        rows = csv.reader(fh, delimiter=sep, quoting=csv.QUOTE_MINIMAL if sep == "," else csv.QUOTE_NONE,
                          strict=False)
        columns: list[str] | None = None
        line = 1
        try:
            for row in rows:
                start, line = line, rows.line_num + 1
                if not row or row == [""]:
                    continue
                loc = f"{name}:{start}"
                bad_text = next((v for v in row if _has_surrogates(v)), None) if check_bytes else None
                if bad_text is not None:
                    byte = ord(next(c for c in bad_text if _has_surrogates(c))) - 0xDC00
                    yield BadRow(loc, "encoding_error", f"{loc}: not valid UTF-8 (byte 0x{byte:02x})")
                    continue
                if columns is None:
                    columns = row if header else [str(i) for i in range(len(row))]
                    if header:
                        continue
                if len(row) != len(columns):
                    yield BadRow(loc, "parse_error", f"{loc}: {len(row)} fields where the "
                                 f"{'header' if header else 'first row'} has {len(columns)}"
                                 + (" (an unquoted separator inside a field?)" if len(row) > len(columns) else ""))
                    continue
                yield {c: (v if v != "" else None) for c, v in zip(columns, row)}, loc
        except csv.Error as exc:
            raise DataError(f"{name}:{line}: cannot parse as {'CSV' if sep == ',' else 'TSV'}: {exc}") from None
    if columns is None:
        raise DataError(f"{name}: file is empty")


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")   # what `surrogateescape` makes of bytes that are not UTF-8


def _has_surrogates(text: str) -> bool:
    return _ESCAPED_BYTE.search(text) is not None


def _is_utf8(path: Path, chunk: int = 1 << 24) -> bool:
    """Whether the whole file decodes as UTF-8 (streamed: a few ms for tens of MB)."""
    import codecs
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def iter_parquet(path: Path, name: str) -> Iterator[tuple[object, str] | BadRow]:
    from .parquet_stream import streamed
    try:
        pf = streamed(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"{name}: not a readable Parquet file ({exc})") from None
    i = 0
    for batch in pf.iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            yield row, f"{name}[{i}]"
            i += 1


def iter_file(path: Path, header: bool = True) -> Iterator[tuple[object, str] | BadRow]:
    name = display(path)
    if path.stat().st_size == 0:
        raise DataError(f"{name}: file is empty")
    ext = path.suffix.lower()
    if ext in JSONL_EXT:
        yield from iter_jsonl(path, name)
    elif ext in CSV_EXT:
        yield from iter_csv(path, name, CSV_EXT[ext], header)
    elif ext == ".parquet":
        yield from iter_parquet(path, name)
    else:  # .json, or no extension (BBH task files): sniff the content
        yield from iter_json(path, name)
