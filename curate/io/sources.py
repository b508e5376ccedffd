"""Turn one recipe input into batches of canonical records (plus ledger rows for bad rows).

This is the `read` stage: files or a Hub dataset -> format adapter -> labels, limit, sample ->
canonical frames. With `on_error: stop` the first bad row stops the run with its location; with
`on_error: quarantine` it becomes a ledger row (`parse_error`, `encoding_error`, `missing_field`,
`wrong_type`) and the run goes on.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import orjson
import polars as pl

from ..errors import ConfigError, DataError
from ..formats import FORMATS, FieldError, detect_format
from ..formats.base import is_path
from ..formats.flat import check_mapping, map_flat
from .spec import InputSpec
from ..records import frame_from_rows
from .fast_jsonl import fast_frame, line_chunks, line_spans, read_span
from .files import JSONL_EXT, BadRow, display, iter_file, iter_jsonl_lines, resolve_files


@dataclass
class InputStats:
    seen: int = 0          # records the source produced
    taken: int = 0         # records kept after limit / sample
    bad: int = 0           # rows quarantined
    empty_fields: dict[str, int] = field(default_factory=dict)  # hand-mapped field -> records without it
    files: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)


def _rank(seed: int, loc: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\x1f{loc}".encode(), digest_size=8).digest(), "big")


def _label(template: str | None, stem: str, fallback: str | None) -> str | None:
    if template is None:
        return fallback
    return template.replace("{stem}", stem)


class InputReader:
    """Reads one `InputSpec`. Iterate `batches()`; `stats` is filled as it goes."""

    def __init__(self, spec: InputSpec, index: int, base_dir: str | None, seed: int, batch_size: int,
                 parse_spans: Callable[[Path, list[tuple[int, int, int]], dict], Iterator] | None = None):
        """`parse_spans(path, spans, fast_frame_args)`: where the JSONL fast path's pieces are parsed
        when not here (a Ray engine's workers); one frame, or None for the per-line reader, per span.
        A file of one piece is parsed here."""
        self.spec, self.index, self.base_dir = spec, index, base_dir
        self.parse_spans = parse_spans
        self.seed, self.batch_size = seed, batch_size
        self.where = f"inputs[{index}]"
        self.stats = InputStats()
        self._formats: dict[str, tuple] = {}  # display name -> (format, mapping), decided per file
        self._keys: dict[str, list[str]] = {}  # display name -> raw fields of its first record
        if spec.format and spec.format not in FORMATS:
            raise ConfigError(f"{self.where}.format: unknown format '{spec.format}'; "
                              f"known: {', '.join(sorted(FORMATS))}")

    # -- raw objects ------------------------------------------------------------------------
    def _files(self) -> list[Path]:
        return resolve_files(self.spec.path, self.base_dir, f"{self.where}.path")

    def _file_objects(self, path: Path) -> Iterator[tuple[object, str, str, str | None, str] | BadRow]:
        """Yield (object, location, file stem, file path, display name) or BadRow for one file."""
        name = display(path)
        produced = False
        for item in iter_file(path, self.spec.header):
            produced = True
            yield item if isinstance(item, BadRow) else (item[0], item[1], path.stem, str(path), name)
        if not produced:
            raise DataError(f"{name}: no records in file")

    def _hub_objects(self):
        spec = self.spec
        for obj, loc in hub_objects(spec):
            yield obj, loc, spec.hub, None, f"hub:{spec.hub}"

    # -- records ----------------------------------------------------------------------------
    def _records(self, objects) -> Iterator[dict | BadRow]:
        spec = self.spec
        for item in objects:
            if isinstance(item, BadRow):
                yield item
                continue
            obj, loc, stem, path, name = item
            if not isinstance(obj, dict):
                yield BadRow(loc, "wrong_type", f"{loc}: expected a JSON object, got {type(obj).__name__}")
                continue
            if name not in self._formats:
                self._formats[name] = self._format_for(obj, name)
            fmt, mapping = self._formats[name]
            options = {"stem": stem, "path": path}
            try:
                records = fmt.to_records(obj, mapping, options)
            except FieldError as exc:
                yield BadRow(loc, exc.reason, f"{loc}: {exc}")
                continue
            self.stats.seen += len(records)
            for k, rec in enumerate(records):
                rec["origin"] = loc if len(records) == 1 and not fmt.whole_file else f"{loc}#{k}"
                rec["source"] = _label(spec.source, stem, rec.get("source") or stem)
                rec["task"] = _label(spec.task, stem, rec.get("task")) or ""
                for extra in spec.keep:
                    rec[extra] = obj.get(extra)
                yield rec

    def _optional_mapped(self) -> list[str]:
        """The optional canonical fields the user mapped by hand (`fields:`); required ones already
        fail per record."""
        return [c for c, raw in self.spec.fields.items() if raw is not None and c not in ("instruction", "response")]

    def _check_mapped(self, name: str, empty: dict[str, int], records: int) -> None:
        """A hand-mapped field that came out empty in every record of a file is a wrong mapping,
        not missing data: stop. Where only some records lack it, count them for the manifest."""
        for canonical, n in empty.items():
            raw = self.spec.fields[canonical]
            if records and n == records:
                seen = self._keys.get(name)
                raise DataError(f"{self.where}.fields.{canonical}: '{raw}' is absent or null in all {records:,} "
                                f"records of {name}" + (f"; fields seen: {seen}" if seen else ""))
            if n:
                self.stats.empty_fields[canonical] = self.stats.empty_fields.get(canonical, 0) + n

    def _format_for(self, obj: dict, name: str):
        spec = self.spec
        keys = set(map(str, obj))
        self._keys[name] = sorted(keys)
        if spec.format:
            fmt = FORMATS[spec.format]
        else:
            try:
                fmt = FORMATS[detect_format(keys, name)]
            except DataError:
                if not spec.fields:
                    raise
                fmt = FORMATS["custom"]
        mapping = {**fmt.defaults, **spec.fields}
        if fmt.to_records is map_flat:  # every flat format needs an instruction field, whatever the mapping
            try:
                check_mapping(mapping)
            except FieldError as exc:
                raise ConfigError(f"{self.where}.fields: {exc}; fields present in {name}: {sorted(keys)}") from None
        self.stats.formats[name] = fmt.name
        return fmt, mapping

    def _sampled(self, records) -> Iterator[dict | BadRow]:
        """Apply `sample` (a seeded fraction, or the N records with the lowest seeded rank)."""
        sample = self.spec.sample
        heap: list = []
        for seq, item in enumerate(records):
            if isinstance(item, BadRow) or sample is None:
                yield item
                continue
            rank = _rank(self.seed, item["origin"])
            if sample < 1:
                if rank < sample * 2**64:
                    yield item
                continue
            entry = (-rank, seq, item)
            if len(heap) < int(sample):
                heapq.heappush(heap, entry)
            elif entry[0] > heap[0][0]:
                heapq.heapreplace(heap, entry)
        for _, _, item in sorted(heap, key=lambda e: e[1]):
            yield item

    # -- batches ----------------------------------------------------------------------------
    def _units(self) -> Iterator[pl.DataFrame | dict | BadRow]:
        """Records of every file in order: whole frames from the JSONL fast path, else dicts."""
        if self.spec.hub:
            yield from self._sampled(self._records(self._hub_objects()))
            return
        for path in self._files():
            self.stats.files.append(display(path))
            plan = self._fast_plan(path)
            if plan is None:
                yield from self._sampled(self._share_checked(display(path), self._records(self._file_objects(path))))
            else:
                yield from self._share_checked(plan[0], self._fast_units(path, *plan))

    def _fast_units(self, path: Path, name: str, mapping) -> Iterator[pl.DataFrame | dict | BadRow]:
        source = _label(self.spec.source, path.stem, None)
        task = _label(self.spec.task, path.stem, None)
        args = {"name": name, "mapping": mapping, "source": source or path.stem, "task": task,
                "source_from_data": source is None}
        spans = list(line_spans(path)) if self.parse_spans is not None else []
        if len(spans) > 1:                  # one piece is parsed here: not worth sending elsewhere
            pieces = ((first_line, frame, lambda o=offset, n=length: read_span(path, o, n))
                      for (first_line, offset, length), frame in zip(spans, self.parse_spans(path, spans, args)))
        else:
            pieces = ((first_line, fast_frame(chunk, first_line, **args), lambda c=chunk: c)
                      for first_line, chunk in line_chunks(path))
        for first_line, frame, chunk in pieces:
            if frame is not None:
                yield frame
            else:           # the per-line reader, here: exact records and precise ledger rows
                lines = iter_jsonl_lines(chunk().splitlines(keepends=True), name, first_line)
                yield from self._records((o if isinstance(o, BadRow) else (o[0], o[1], path.stem, str(path), name))
                                         for o in lines)

    def _share_checked(self, name: str, units) -> Iterator[pl.DataFrame | dict | BadRow]:
        """Pass one file's units on; under quarantine, stop once the file is read if more than
        `max_bad_share` of its rows were bad: that is a wrong file (binary, another format), and
        quarantining it row by row would end in an empty dataset with exit 0."""
        good = bad = 0
        first_bad = None
        empty = dict.fromkeys(self._optional_mapped(), 0)  # canonical field -> records where it came out null
        for unit in units:
            if isinstance(unit, BadRow):
                bad += 1
                first_bad = first_bad or unit
            else:
                good += unit.height if isinstance(unit, pl.DataFrame) else 1
                for canonical in empty:
                    empty[canonical] += (unit[canonical].null_count() if isinstance(unit, pl.DataFrame)
                                         else unit.get(canonical) is None)
            yield unit
        self._check_mapped(name, empty, good)
        share = self.spec.max_bad_share
        if bad and bad > share * (good + bad):
            raise DataError(f"{name}: {bad:,} of {good + bad:,} rows are bad ({bad / (good + bad):.0%}, more than "
                            f"`max_bad_share: {share}`), so this looks like a wrong file rather than dirty data; "
                            f"the first: {first_bad.detail}")

    def _fast_plan(self, path: Path):
        """(display name, mapping) when this file can take the JSONL fast path, else None."""
        spec = self.spec
        if spec.sample is not None or spec.keep or path.suffix.lower() not in JSONL_EXT \
                or any(is_path(raw) for raw in spec.fields.values()):      # paths: the per-line reader
            return None
        name = display(path)
        first = None
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    first = line
                    break
        if first is None:
            raise DataError(f"{name}: {'file is empty' if path.stat().st_size == 0 else 'no records in file'}")
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(obj, dict):
            return None
        if name not in self._formats:
            self._formats[name] = self._format_for(obj, name)
        fmt, mapping = self._formats[name]
        return (name, mapping) if fmt.to_records is map_flat else None

    def batches(self) -> Iterator[tuple[pl.DataFrame, list[dict]]]:
        """Yield (records frame, ledger rows) per batch, in input order."""
        rows: list[dict] = []
        bad: list[dict] = []
        limit = self.spec.limit
        for unit in self._units():
            if isinstance(unit, BadRow):
                if self.spec.on_error == "stop":
                    raise DataError(f"{unit.detail} (set `on_error: quarantine` on the input to "
                                    "put bad rows in the rejected ledger instead)")
                self.stats.bad += 1
                bad.append({"id": hashlib.blake2b(unit.loc.encode(), digest_size=10).hexdigest(),
                            "reason": unit.reason, "detail": unit.detail, "origin": unit.loc})
                continue
            if isinstance(unit, pl.DataFrame):
                if rows or bad:
                    yield frame_from_rows(rows, self.spec.keep), bad
                    rows, bad = [], []
                self.stats.seen += unit.height
                if limit is not None:
                    unit = unit.head(limit - self.stats.taken)
                self.stats.taken += unit.height
                for start in range(0, unit.height, self.batch_size):
                    yield unit.slice(start, self.batch_size), []
            else:
                rows.append(unit)
                self.stats.taken += 1
                if len(rows) >= self.batch_size:
                    yield frame_from_rows(rows, self.spec.keep), bad
                    rows, bad = [], []
            if limit is not None and self.stats.taken >= limit:
                break
        if rows or bad:
            yield frame_from_rows(rows, self.spec.keep), bad


def hub_objects(spec: InputSpec) -> Iterator[tuple[dict, str]]:
    """Rows of a Hub dataset through `datasets.load_dataset` (needs network, or a local cache)."""
    try:
        import datasets
        ds = datasets.load_dataset(spec.hub, spec.subset, split=spec.split)
    except Exception as exc:  # network, auth and missing-dataset errors come in many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(
            f"cannot load Hub dataset '{spec.hub}' (split '{spec.split}'): {first}. The Hugging Face Hub "
            "may be unreachable from here or the id may be wrong; download the data when online, or "
            "point `path:` at local files.") from None
    for i, row in enumerate(ds):
        yield row, f"hub:{spec.hub}:{spec.split}[{i}]"
