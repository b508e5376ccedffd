"""`curate sql` reads; it never writes.

A run folder is queried with DuckDB, which can also write files (`COPY ... TO`, `EXPORT
DATABASE`), attach databases, install extensions and change its own settings. `curate sql`
allows only the statements that read, checked one by one with DuckDB's own parser before any of
them runs:

- SELECT, including WITH, FROM-first queries, VALUES, DESCRIBE, SHOW and SUMMARIZE (DuckDB parses
  all of them as SELECT);
- EXPLAIN of an allowed statement (EXPLAIN ANALYZE runs it, so what it explains is checked too);
- PRAGMA of the read-only listings in `READ_PRAGMAS` (show_tables, table_info, ...).

Everything else (COPY, EXPORT, ATTACH, INSTALL/LOAD, SET/RESET, CREATE, INSERT, CALL, ...) is
refused with the statement named. The connection's configuration is locked as well, so no
statement can change `file_search_path`, `memory_limit` or `enable_external_access`, and
extensions are never downloaded. Reading a local file the user names in a query
(`read_csv('x.csv')`) stays allowed: that is their choice, not a recipe's.
"""

from __future__ import annotations

import re

from ..errors import ConfigError

READ_PRAGMAS = {"show_tables", "show_tables_expanded", "table_info", "show", "database_size", "storage_info",
                "version", "platform", "database_list", "functions", "collations", "metadata_info",
                "user_agent", "show_databases"}
EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?", re.IGNORECASE)
PRAGMA_NAME = re.compile(r"^\s*PRAGMA\s+(\w+)", re.IGNORECASE)
ALLOWED = ("SELECT (also WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE), EXPLAIN, and read-only PRAGMAs "
           "(show_tables, table_info, ...; docs/GUIDE.md lists them)")
LOCKED = {"autoinstall_known_extensions": False, "allow_community_extensions": False}


def lock_settings(con) -> None:
    """From here on no statement on `con` can change a setting."""
    con.execute("SET lock_configuration = true")


def read_statements(sql: str) -> list[str]:
    """The statements of `sql`, each checked to only read; a ConfigError names the first that does not."""
    import duckdb
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ConfigError(f"not valid SQL: {str(exc).splitlines()[0]}") from None
    if not statements:
        raise ConfigError("no SQL statement given")
    for statement in statements:
        _check(statement)
    return [s.query for s in statements]


def _check(statement) -> None:
    import duckdb
    kind = statement.type
    text = statement.query.strip()
    if kind == duckdb.StatementType.SELECT:
        return
    if kind == duckdb.StatementType.EXPLAIN:
        match = EXPLAIN.match(text)
        inner = text[match.end():] if match else ""
        if inner.strip():
            for explained in duckdb.extract_statements(inner):
                _check(explained)
            return
    if kind == duckdb.StatementType.PRAGMA:
        name = PRAGMA_NAME.match(text)
        if name and name.group(1).lower() in READ_PRAGMAS:
            return
    word = (text.split() or ["?"])[0].upper()
    raise ConfigError(f"`curate sql` only reads; refused `{_short(text)}` (a {word} statement). "
                      f"Allowed: {ALLOWED}")


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
