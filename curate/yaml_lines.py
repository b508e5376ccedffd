"""YAML line numbers for error messages: where in a recipe file a key sits, so that every
validation error can say `recipe.yaml:12: steps[1].with.min: ...`."""

from __future__ import annotations

from typing import Any

import yaml


def line_of(node: Any, loc: tuple) -> int | None:
    """1-based YAML line of the deepest key of `loc` that exists in the composed node tree."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part or (part == "with_" and key.value == "with"):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        part = "with" if part == "with_" else part
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def where(filename: str, node: Any, loc: tuple) -> str:
    line = line_of(node, loc) if node is not None else None
    return f"{filename}:{line}" if line else filename
