"""Recipe SQL in a sandbox: one boolean expression over the batch's columns, nothing else.

Recipes are shared like code, so an expression from a recipe must not reach anything but the
batch. Two walls, each enough on its own for the known attacks:

- the text is parsed by DuckDB's own parser as `SELECT (<expr>) AS keep FROM batch` and must stay
  exactly that: one statement, one select item, from `batch`, with no WHERE, GROUP BY, set
  operation or other clause smuggled in by unbalanced parentheses (`true) ...; COPY ... --`);
- it runs in a connection with external access off (no file, network or extension access: no
  `read_text`, `COPY ... TO`, `ATTACH`, `INSTALL`), extension autoloading off and the
  configuration locked, so no `SET` can undo that.
"""

from __future__ import annotations

import json
from functools import lru_cache

from ...errors import ConfigError
from ...io.read_only_sql import LOCKED

# `curate sql`'s locked settings (no extension ever downloaded), and no file, network or extension access.
SANDBOX = {**LOCKED, "enable_external_access": False, "autoload_known_extensions": False}
CLAUSES = ("where_clause", "having", "qualify", "sample")


def sandbox_connection():
    """A DuckDB connection that can read only what is registered on it."""
    import duckdb
    con = duckdb.connect(config=SANDBOX)
    con.execute("SET lock_configuration = true")
    return con


def expression_query(expr: str) -> str:
    """The query that evaluates `expr` over `batch` (run it only once `check_expression` passed)."""
    return f"SELECT ({expr}) AS keep FROM batch"


@lru_cache(maxsize=1)
def _parser():
    """One sandboxed connection for parsing: checking an expression runs nothing of it."""
    return sandbox_connection()


def check_expression(expr: str, step: str) -> None:
    """A clear error unless `expr` parses as exactly one expression in `expression_query`."""
    tree = json.loads(_parser().execute("SELECT json_serialize_sql(?)", [expression_query(expr)]).fetchall()[0][0])
    if tree.get("error"):
        raise ConfigError(f"{step}: expr {expr!r} is not valid SQL: {tree.get('error_message')}")
    problem = None
    statements = tree.get("statements", [])
    node = statements[0]["node"] if len(statements) == 1 else None
    if node is None:
        problem = f"it holds {len(statements)} statements"
    elif node.get("type") != "SELECT_NODE":
        problem = "it adds a set operation (UNION, EXCEPT, ...)"
    elif len(node.get("select_list", [])) != 1:
        problem = "it adds select items"
    elif node.get("from_table", {}).get("table_name") != "batch" or node["from_table"].get("type") != "BASE_TABLE":
        problem = "it changes the FROM clause"
    elif any(node.get(c) for c in CLAUSES) or node.get("group_expressions") or node.get("modifiers") \
            or node.get("cte_map", {}).get("map"):
        problem = "it adds a clause (WHERE, GROUP BY, ORDER BY, LIMIT, WITH, ...)"
    if problem:
        raise ConfigError(f"{step}: expr must be one SQL expression over the record's columns, but {problem}: "
                          f"{expr!r}")
