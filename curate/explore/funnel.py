"""`curate show`: the funnel of a run, per step in / kept / rejected / added and top reasons."""

from __future__ import annotations

from ..io.manifest import funnel_rows




def _added(row: dict) -> str:
    """Added records, and the derived records a composing step tried and could not build."""
    return f"{row['added']:,}" + (f" ({row['declined']:,} declined)" if row["declined"] else "")


def funnel_table(manifest: dict):
    from rich.table import Table
    table = Table(title=f"{manifest['recipe']['name']}  ·  {manifest['rows']['read']} read → "
                        f"{manifest['rows']['final']} final, {manifest['rows']['rejected']} rejected")
    for col, just in [("#", "right"), ("step", "left"), ("in", "right"), ("kept", "right"),
                      ("rejected", "right"), ("added", "right"), ("s", "right"), ("top reasons", "left")]:
        table.add_column(col, justify=just)
    for r in funnel_rows(manifest):
        table.add_row(str(r["stage"]), r["step"] + (" [dim](reused)[/dim]" if r["reused"] else ""),
                      f"{r['in']:,}", f"{r['kept']:,}", f"{r['rejected']:,}", _added(r),
                      f"{r['seconds']:.2f}", r["top_reasons"])
    return table
