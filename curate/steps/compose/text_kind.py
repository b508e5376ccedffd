"""What kind of value a text is (number, list, text), so a chain only feeds a task what it can take.

Chain-of-Instructions composes a task only after one whose output is a valid input for it; this is
the "output type" half of that check (the other half is instruction similarity).
"""

from __future__ import annotations

import re

NUMBER = re.compile(r"^[-+]?\d[\d,]*(?:\.\d+)?%?$")
NUMBERS = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def list_items(text: str) -> list[str]:
    """Items of a list-shaped text: bullet/numbered lines, or one line of ≥ 3 short comma-separated
    items. Empty when the text is not a list."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) >= 2 and all(BULLET.match(ln) for ln in lines):
        return [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", ln).strip() for ln in lines]
    if len(lines) == 1 and "," in lines[0]:
        items = [p.strip() for p in lines[0].rstrip(".").split(",")]
        if len(items) >= 3 and all(0 < len(p.split()) <= 4 for p in items):
            return items
    return []


def sentences(text: str) -> list[str]:
    """Sentences of a one-paragraph text (split after . ! ? before a capital or digit)."""
    return [s.strip() for s in SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def kind(text: str) -> str:
    """`number`, `list`, `text` or `empty`."""
    stripped = (text or "").strip()
    if not stripped:
        return "empty"
    if NUMBER.match(stripped):
        return "number"
    if list_items(stripped):
        return "list"
    return "text"
