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
from typing import Iterator

import polars as pl

from ..errors import ConfigError, DataError
from ..formats import FORMATS, FieldError, detect_format
from ..formats.flat import check_mapping
from ..recipe import InputSpec
from ..records import frame_from_rows
from .files import BadRow, display, iter_file, resolve_files

LEDGER_COLUMNS = ["id", "reason", "detail", "origin"]


@dataclass
class InputStats:
    seen: int = 0          # records the source produced
    taken: int = 0         # records kept after limit / sample
    bad: int = 0           # rows quarantined
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

    def __init__(self, spec: InputSpec, index: int, base_dir: str | None, seed: int, batch_size: int):
        self.spec, self.index, self.base_dir = spec, index, base_dir
        self.seed, self.batch_size = seed, batch_size
        self.where = f"inputs[{index}]"
        self.stats = InputStats()
        if spec.format and spec.format not in FORMATS:
            raise ConfigError(f"{self.where}.format: unknown format '{spec.format}'; "
                              f"known: {', '.join(sorted(FORMATS))}")

    # -- raw objects ------------------------------------------------------------------------
    def _objects(self) -> Iterator[tuple[object, str, str, str | None, str] | BadRow]:
        """Yield (object, location, file stem, file path, display name) or BadRow."""
        spec = self.spec
        if spec.hub:
            yield from ((o, loc, spec.hub, None, f"hub:{spec.hub}") for o, loc in hub_objects(spec))
            return
        for path in resolve_files(spec.path, self.base_dir, f"{self.where}.path"):
            self.stats.files.append(display(path))
            produced = False
            for item in iter_file(path, spec.header):
                produced = True
                yield item if isinstance(item, BadRow) else (item[0], item[1], path.stem, str(path), display(path))
            if not produced:
                raise DataError(f"{display(path)}: no records in file")

    # -- records ----------------------------------------------------------------------------
    def _records(self) -> Iterator[dict | BadRow]:
        spec = self.spec
        fmt_by_file: dict[str, tuple] = {}
        for item in self._objects():
            if isinstance(item, BadRow):
                yield item
                continue
            obj, loc, stem, path, name = item
            if not isinstance(obj, dict):
                yield BadRow(loc, "wrong_type", f"{loc}: expected a JSON object, got {type(obj).__name__}")
                continue
            if name not in fmt_by_file:
                fmt_by_file[name] = self._format_for(obj, name)
            fmt, mapping = fmt_by_file[name]
            options = {"stem": stem, "path": path}
            try:
                records = fmt.to_records(obj, mapping, options)
            except FieldError as exc:
                yield BadRow(loc, exc.reason, f"{loc}: {exc}")
                continue
            for k, rec in enumerate(records):
                rec["origin"] = loc if len(records) == 1 and not fmt.whole_file else f"{loc}#{k}"
                rec["source"] = _label(spec.source, stem, rec.get("source") or stem)
                rec["task"] = _label(spec.task, stem, rec.get("task")) or ""
                for extra in spec.keep:
                    rec[extra] = obj.get(extra)
                yield rec

    def _format_for(self, obj: dict, name: str):
        spec = self.spec
        keys = set(map(str, obj))
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
        if fmt.to_records is FORMATS["custom"].to_records:
            try:
                check_mapping(mapping)
            except FieldError as exc:
                raise ConfigError(f"{self.where}.fields: {exc}; fields present in {name}: {sorted(keys)}") from None
        self.stats.formats[name] = fmt.name
        return fmt, mapping

    def _sampled(self) -> Iterator[dict | BadRow]:
        spec = self.spec
        sample = spec.sample
        heap: list = []
        for item in self._records():
            if isinstance(item, BadRow):
                yield item
                continue
            self.stats.seen += 1
            if sample is None:
                pass
            elif sample < 1:
                if _rank(self.seed, item["origin"]) >= sample * 2**64:
                    continue
            else:
                entry = (-_rank(self.seed, item["origin"]), self.stats.seen, item)
                if len(heap) < int(sample):
                    heapq.heappush(heap, entry)
                elif entry > heap[0]:
                    heapq.heapreplace(heap, entry)
                continue
            yield item
            if spec.limit and self.stats.seen >= spec.limit and sample is None:
                return
        for _, _, item in sorted(heap, key=lambda e: e[1])[: spec.limit or None]:
            yield item

    def batches(self) -> Iterator[tuple[pl.DataFrame, list[dict]]]:
        """Yield (records frame, ledger rows) per batch."""
        rows: list[dict] = []
        bad: list[dict] = []
        taken = 0
        for item in self._sampled():
            if isinstance(item, BadRow):
                if self.spec.on_error == "stop":
                    raise DataError(f"{item.detail} (set `on_error: quarantine` on the input to "
                                    "put bad rows in the rejected ledger instead)")
                self.stats.bad += 1
                bad.append({"id": hashlib.blake2b(item.loc.encode(), digest_size=10).hexdigest(),
                            "reason": item.reason, "detail": item.detail, "origin": item.loc})
                continue
            if self.spec.limit and self.spec.sample is not None and taken >= self.spec.limit:
                break
            rows.append(item)
            taken += 1
            if len(rows) >= self.batch_size:
                yield frame_from_rows(rows, self.spec.keep), bad
                rows, bad = [], []
        self.stats.taken = taken
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
