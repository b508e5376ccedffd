"""`curate show`: the funnel of a run, per step in / kept / rejected / added and top reasons.

Step and reason names are printed whole: they are what a user types into `curate sql` next
(`WHERE step = 'filter.decontaminate'`, `reason = 'trivial_response'`). The table drops the
columns that say nothing (`added` when no step added records) and then the seconds when the
terminal is narrow; if it still does not fit, each stage becomes one line of text.
"""

from __future__ import annotations

from ..io.manifest import funnel_rows

COLUMNS = [("#", "right"), ("step", "left"), ("in", "right"), ("kept", "right"), ("rejected", "right"),
           ("added", "right"), ("s", "right"), ("top reasons", "left")]


def _added(row: dict) -> str:
    """Added records, and the derived records a composing step tried and could not build."""
    return f"{row['added']:,}" + (f" ({row['declined']:,} declined)" if row["declined"] else "")


def _cells(r: dict) -> dict[str, str]:
    return {"#": str(r["stage"]), "step": r["step"] + ("*" if r["reused"] else ""), "in": f"{r['in']:,}",
            "kept": f"{r['kept']:,}", "rejected": f"{r['rejected']:,}", "added": _added(r),
            "s": f"{r['seconds']:.2f}", "top reasons": "\n".join(r["top_reasons"].split(", ")) if r["top_reasons"] else ""}


def _width(columns: list[str], cells: list[dict[str, str]]) -> int:
    """Characters a rich table needs for `columns` with no cell cut: borders and padding included."""
    return sum(max([len(c)] + [len(line) for row in cells for line in row[c].split("\n")]) + 3 for c in columns) + 1


def funnel_table(manifest: dict, width: int = 80):
    """A renderable of the funnel no wider than `width` (pass the console's width)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text
    rows = funnel_rows(manifest)
    cells = [_cells(r) for r in rows]
    title = (f"{manifest['recipe']['name']}  ·  {manifest['rows']['read']:,} read → {manifest['rows']['final']:,} "
             f"final, {manifest['rows']['rejected']:,} rejected")
    note = "* reused from an earlier run" if any(r["reused"] for r in rows) else None
    columns = [name for name, _ in COLUMNS]
    if not any(r["added"] or r["declined"] for r in rows):
        columns.remove("added")
    if _width(columns, cells) > width:
        columns.remove("s")
    if _width(columns, cells) <= width:
        table = Table(title=title, caption=note, caption_justify="left")
        for name, just in COLUMNS:
            if name in columns:
                table.add_column(name, justify=just, no_wrap=True)
        for row in cells:
            table.add_row(*[row[c] for c in columns])
        return table
    lines = [Text(title, style="bold")]
    for r, row in zip(rows, cells):
        added = f", {row['added']} added" if "added" in columns else ""
        reasons = f" · {r['top_reasons']}" if r["top_reasons"] else ""
        lines.append(Text(f"{row['#']:>2} {row['step']}: {row['in']} in, {row['kept']} kept, "
                          f"{row['rejected']} rejected{added}{reasons}"))
    if note:
        lines.append(Text(note, style="dim"))
    return Group(*lines)
