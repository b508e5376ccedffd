"""The Chain-of-Instructions output format: each step's output labelled, the output of one step
being the input of the next.

    Task 1 output and task 2 input: <o1>
    Task 2 output: <o2>

The published CoI files (../shared/data/chain_of_instructions) write it loosely ("Task2 output",
two spaces instead of a newline); `parse` accepts those, `render` writes the canonical form.
"""

from __future__ import annotations

import re

LABEL = re.compile(r"Task\s*(\d+)\s+output(?:\s+and\s+task\s*\d+\s+input)?\s*:\s*", re.IGNORECASE)


def render(outputs: list[str]) -> str:
    lines = []
    for i, out in enumerate(outputs, start=1):
        label = f"Task {i} output" + (f" and task {i + 1} input" if i < len(outputs) else "")
        lines.append(f"{label}: {out.strip()}")
    return "\n".join(lines)


def parse(text: str) -> list[str] | None:
    """The step outputs in order, or None when the text is not in the chain format (labels missing,
    out of order, or an empty step)."""
    marks = list(LABEL.finditer(text or ""))
    if len(marks) < 2 or [int(m.group(1)) for m in marks] != list(range(1, len(marks) + 1)):
        return None
    if text[:marks[0].start()].strip():
        return None
    outputs = [text[m.end():(marks[i + 1].start() if i + 1 < len(marks) else len(text))].strip()
               for i, m in enumerate(marks)]
    return outputs if all(outputs) else None
