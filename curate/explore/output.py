"""Print query results for people (rich table) or machines (CSV, JSON lines)."""

from __future__ import annotations

import sys

import polars as pl


def print_frame(frame: pl.DataFrame, fmt: str = "table", max_rows: int = 50) -> None:
    if fmt == "csv":
        flat = _stringify_nested(frame)
        sys.stdout.write(flat.write_csv())
    elif fmt == "json":
        sys.stdout.write(frame.write_ndjson())
    else:
        from rich.console import Console
        from rich.table import Table
        table = Table(show_lines=False)
        for c in frame.columns:
            table.add_column(c, overflow="fold", max_width=60)
        for row in frame.head(max_rows).iter_rows():
            table.add_row(*["∅" if v is None else _short(v) for v in row])
        Console().print(table)
        if frame.height > max_rows:
            Console().print(f"[dim]… {frame.height - max_rows} more rows ({frame.height} in all); "
                            "use --format csv or json for everything[/dim]")


def _short(value, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _stringify_nested(frame: pl.DataFrame) -> pl.DataFrame:
    nested = [c for c, t in frame.schema.items() if isinstance(t, (pl.List, pl.Struct, pl.Array))]
    if not nested:
        return frame
    import orjson
    return frame.with_columns(
        pl.Series(c, [None if v is None else orjson.dumps(v).decode() for v in frame[c].to_list()], dtype=pl.Utf8)
        for c in nested)
