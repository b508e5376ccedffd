"""The DuckDB catalog of a run: views over its Parquet files, opened read-only.

Views use paths relative to the run directory and each connection sets `file_search_path`
to it, so a run directory can be moved or copied and still be queried. The file is written in
DuckDB's v1.0.0 storage format, so the stock DuckDB CLI and older Python packages open it too:
`cd RUN && duckdb -readonly catalog.duckdb`, or from anywhere
`duckdb -readonly -cmd "SET file_search_path='RUN'" RUN/catalog.duckdb`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

VIEW_NAME = re.compile(r"[^A-Za-z0-9_]")
STORAGE = "v1.0.0"         # the oldest storage format DuckDB writes: every DuckDB since 1.0 reads it


def view_name(stem: str) -> str:
    """`01-dedup.exact` -> `stage_01_dedup_exact`."""
    return "stage_" + VIEW_NAME.sub("_", stem)


def build_catalog(run_dir: Path, stems: list[str]) -> Path:
    import duckdb
    path = run_dir / "catalog.duckdb"
    tmp = run_dir / f"catalog.duckdb.tmp-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    try:
        _write_views(duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE}), run_dir, stems)
    except duckdb.IOException as exc:          # e.g. a full disk: reported like any failed write
        raise OSError(None, str(exc).splitlines()[0], str(tmp)) from None
    os.replace(tmp, path)
    return path


def _write_views(con, run_dir: Path, stems: list[str]) -> None:
    con.execute(f"SET file_search_path = '{_quote(run_dir.resolve())}'")
    for stem in stems:
        con.execute(f"CREATE VIEW {view_name(stem)} AS SELECT * FROM read_parquet('stages/{stem}.parquet')")
    con.execute("CREATE VIEW final AS SELECT * FROM read_parquet('final.parquet')")
    con.execute("CREATE VIEW rejected AS SELECT * FROM read_parquet('rejected.parquet')")
    parts = [f"SELECT id, unnest(parent_ids) AS parent_id, {i} AS stage, '{stem.split('-', 1)[1]}' AS step "
             f"FROM read_parquet('stages/{stem}.parquet') WHERE parent_ids IS NOT NULL"
             for i, stem in enumerate(stems)]
    con.execute("CREATE VIEW lineage AS SELECT id, parent_id, min(stage) AS stage, arg_min(step, stage) AS step "
                f"FROM ({' UNION ALL '.join(parts)}) GROUP BY id, parent_id")
    con.close()


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def connect(run_dir: str | Path):
    """A read-only connection to the run's catalog, its settings locked (see `read_only_sql`)."""
    import duckdb
    from ..errors import ConfigError
    from .read_only_sql import LOCKED, lock_settings
    run_dir = Path(run_dir)
    path = run_dir / "catalog.duckdb"
    if not path.is_file():
        tables = sorted(run_dir.glob("*.parquet"))
        if not tables:
            raise ConfigError(f"{run_dir} is not a finished curate run (no catalog.duckdb) and holds no Parquet files")
        con = duckdb.connect(config=LOCKED)   # an eval folder or any folder of Parquet: one view per file
        for table in tables:
            con.execute(f"CREATE VIEW {VIEW_NAME.sub('_', table.stem)} AS SELECT * FROM read_parquet('{_quote(table.resolve())}')")
    else:
        con = duckdb.connect(str(path), read_only=True, config=LOCKED)
        con.execute(f"SET file_search_path = '{_quote(run_dir.resolve())}'")
    lock_settings(con)
    return con


def queries(con, sql: str) -> list:
    """The result relations of `sql`'s statements, once every statement is checked to only read
    (else a ConfigError and nothing runs)."""
    from .read_only_sql import read_statements
    return [con.sql(statement) for statement in read_statements(sql)]


def views(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                                      "ORDER BY view_name").fetchall()]
