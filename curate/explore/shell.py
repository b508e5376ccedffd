"""A small interactive SQL shell for `curate sql RUN` with no query."""

from __future__ import annotations


def shell(con, view_names: list[str]) -> None:
    import duckdb
    from ..errors import ConfigError
    from .output import print_results
    try:
        import readline  # noqa: F401  (line editing and history)
    except ImportError:
        pass
    print(f"views: {', '.join(view_names)}\nend statements with ';' — .tables lists views, .quit leaves")
    buffer = ""
    while True:
        try:
            line = input("curate> " if not buffer else "   ...> ")
        except EOFError:
            print()
            return
        stripped = line.strip()
        if not buffer and stripped in (".quit", ".exit", "\\q"):
            return
        if not buffer and stripped == ".tables":
            print("\n".join(view_names))
            continue
        buffer += line + "\n"
        if not stripped.endswith(";"):
            continue
        try:
            print_results(con, buffer)
        except ConfigError as exc:
            print(f"error: {exc}")
        except duckdb.Error as exc:
            print(f"error: {str(exc).splitlines()[0]}")
        buffer = ""
