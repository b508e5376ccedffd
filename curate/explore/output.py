"""Print query results for people (a table that fits the terminal) or machines (CSV, JSON lines).

Rows come as plain Python values (DuckDB's `fetchall`), not a DataFrame: `curate sql RUN "select 1"`
then never imports polars or pyarrow, which was most of its one second.

The table keeps every header and name whole (they are what a user types into the next query),
shortens long cell values with an ellipsis, and when the columns cannot fit side by side at
their headers' width, prints one field per line per row instead, as DuckDB's CLI does.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

CELL_LIMIT = 300          # characters of one value shown in a table; the rest is an ellipsis
MAX_ROWS = 50
MIN_CELL = 6              # a column narrower than this shows too little to be worth a table


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table",
               max_rows: int = MAX_ROWS) -> None:
    if fmt == "csv":
        import csv
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(columns)
        out.writerows([[_flat(v) for v in row] for row in rows])
    elif fmt == "json":
        import orjson
        for row in rows:
            sys.stdout.write(orjson.dumps(dict(zip(columns, row)), default=str).decode() + "\n")
    else:
        print_table(columns, rows, max_rows)


def print_results(con, sql: str, fmt: str = "table") -> None:
    """Every result of `sql` (checked to only read: `io.catalog.queries`), a blank line between two."""
    from ..io.catalog import queries
    for i, relation in enumerate(r for r in queries(con, sql) if r is not None):
        if i:
            sys.stdout.write("\n")
        print_rows(relation.columns, relation.fetchall(), fmt)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], max_rows: int = MAX_ROWS) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console()
    shown = [[_cell(v) for v in row] for row in rows[:max_rows]]
    if _fits(columns, shown, console.width):
        table = Table(show_lines=False)
        for i, name in enumerate(columns):
            longest = max([len(name)] + [len(r[i]) for r in shown])
            table.add_column(name, min_width=min(len(name), longest), no_wrap=True, overflow="ellipsis")
        for row in shown:
            table.add_row(*row)
        console.print(table)
    else:
        label = max(len(c) for c in columns)
        room = max(MIN_CELL, console.width - label - 3)
        for k, row in enumerate(shown):
            console.print(f"[dim]── row {k + 1} ──[/dim]")
            for name, value in zip(columns, row):
                text = value if len(value) <= room else value[:room - 1] + "…"
                console.print(f"{name:>{label}} = {text}", markup=False, highlight=False, overflow="ellipsis",
                              no_wrap=True)
    if len(rows) > max_rows:
        console.print(f"[dim]… {len(rows) - max_rows} more rows ({len(rows)} in all); "
                      "use --format csv or json for everything[/dim]")


def _fits(columns: Sequence[str], rows: list[list[str]], width: int) -> bool:
    """Whether every column can be at least as wide as its header (and MIN_CELL) side by side."""
    need = sum(max(len(c), min(MIN_CELL, max([1] + [len(r[i]) for r in rows]))) + 3 for i, c in enumerate(columns)) + 1
    return need <= width


def _cell(value: Any) -> str:
    if value is None:
        return "∅"
    text = str(_flat(value)).replace("\n", " ⏎ ")
    return text if len(text) <= CELL_LIMIT else text[:CELL_LIMIT] + "…"


def _flat(value: Any) -> Any:
    """Lists, structs and maps as JSON text (CSV and tables have no nesting); booleans as `true` /
    `false`, as DuckDB and polars write them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict, tuple)):
        import orjson
        return orjson.dumps(value, default=str).decode()
    return value if value is None or isinstance(value, (int, float)) else str(value)
