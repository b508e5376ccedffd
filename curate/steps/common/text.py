"""Shared text helpers for steps: which text a step looks at, and how it is normalized for keys."""

from __future__ import annotations

import polars as pl

from ...errors import ConfigError



def history_text() -> pl.Expr:
    return pl.col("history").list.eval(pl.element().struct.field("content")).list.join("\n")


FIELDS_OF_TEXT = ["instruction", "context", "response", "history"]
# Whitespace that squeezing would change: a run of 2+, or a single tab/newline/odd space. Replacing
# only these (not every single space) gives the same text as `\s+` -> " ", several times faster.
SQUEEZE = r"\s{2,}|[\s&&[^ ]]"
IRREGULAR_SPACE = SQUEEZE + r"|^\s|\s$"


def word_counts(text: pl.Series) -> pl.Series:
    """Whitespace-separated words per text. Text whose words are separated by single spaces (most
    text) is counted as spaces + 1; the rest go through the regex."""
    text = text.fill_null("")
    counts = (text.str.count_matches(" ", literal=True) + 1) * (text.str.len_bytes() > 0)
    irregular = text.str.contains(IRREGULAR_SPACE).arg_true()
    if len(irregular):
        counts = counts.scatter(irregular, text.gather(irregular).str.count_matches(r"\S+"))
    return counts.cast(pl.UInt32)


def field_text(name: str) -> pl.Expr:
    """A column as text; `text` means instruction, context, response and history together."""
    if name == "text":
        return pl.concat_str([field_text(c) for c in FIELDS_OF_TEXT], separator="\n", ignore_nulls=True)
    if name == "history":
        return history_text()
    return pl.col(name).cast(pl.Utf8)


def fields_text(fields: list[str], separator: str = " ") -> pl.Expr:
    """Several fields as one text (a missing field counts as empty), for steps that compare or
    classify records as a whole."""
    return pl.concat_str([field_text(f).fill_null("") for f in fields], separator=separator)


def require_fields(step: str, fields: list[str], columns: list[str]) -> None:
    """A configuration error naming the first of `fields` that is neither a column nor `text`/`history`."""
    for name in fields:
        if name not in ("text", "history") and name not in columns:
            raise ConfigError(f"{step}: field '{name}' is not a column; columns: {', '.join(columns)}")


def key_text(fields: list[str], casefold: bool = True, ignore_punctuation: bool = False) -> pl.Expr:
    """One comparison string per record: chosen fields, whitespace-squeezed, optionally casefolded
    and without punctuation. Fields are joined with a separator that cannot occur in text."""
    parts = []
    for name in fields:
        expr = field_text(name).fill_null("\x00")
        if casefold:
            expr = expr.str.to_lowercase()
        if ignore_punctuation:
            expr = expr.str.replace_all(r"[\p{P}\p{S}]", "")
        parts.append(expr.str.replace_all(SQUEEZE, " ").str.strip_chars())
    return pl.concat_str(parts, separator="\x1f")


__all__ = ["FIELDS_OF_TEXT", "field_text", "fields_text", "history_text", "key_text", "require_fields",
           "word_counts"]
