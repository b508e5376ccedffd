"""What a format adapter is, and the registry the reader, `curate formats` and detection share.

An adapter turns one raw object (a JSON line, a CSV row, a whole task file) into zero or more
canonical record dicts. Adapters raise `FieldError` naming the field; the reader adds the file
and line, so users always see where the problem is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

Mapping = dict[str, Any]  # canonical field -> raw key (str, or int for header-less CSV)


class FieldError(ValueError):
    """A record is missing a field or has the wrong type there."""

    def __init__(self, field: str, message: str, reason: str = "missing_field"):
        super().__init__(f"field '{field}': {message}")
        self.field = field
        self.reason = reason


@dataclass
class Format:
    name: str
    description: str
    detect: Callable[[set[str]], bool]
    to_records: Callable[[dict, Mapping, dict], list[dict]]
    defaults: Mapping = field(default_factory=dict)
    whole_file: bool = False  # one object per file (SQuAD, task files) rather than one per record
    example: str = ""


FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


PATH_PART = re.compile(r"^(?P<name>[^\[\]]*)(?P<all>\[\*\])?$")


def is_path(raw_key: Any) -> bool:
    """Whether a mapped field name is a path into nested data (`a.b`, `a.0.b`, `a[*].b`)."""
    return isinstance(raw_key, str) and ("." in raw_key or "[*]" in raw_key)


def resolve_path(obj: Any, path: str, canonical: str) -> Any:
    """The value at `path`: `.` steps into an object's key or a list's index; `name[*]` takes every
    item of a list and the rest of the path from each, the texts joined by a blank line."""
    return _walk(obj, path.split("."), path, canonical, [])


def _walk(value: Any, parts: list[str], path: str, canonical: str, done: list[str]) -> Any:
    if not parts:
        return value
    part, rest = parts[0], parts[1:]
    match = PATH_PART.match(part)
    name = match.group("name") if match else part
    here = ".".join(done) or "the record"
    if isinstance(value, dict):
        if name not in value:
            raise FieldError(canonical, f"path '{path}': {here} has no field '{name}'; fields there: "
                                        f"{sorted(map(str, value))}")
        value = value[name]
    elif isinstance(value, list) and name.isdigit():
        if int(name) >= len(value):
            raise FieldError(canonical, f"path '{path}': {here} has {len(value)} items, no item {name}")
        value = value[int(name)]
    else:
        raise FieldError(canonical, f"path '{path}': {here} is {type(value).__name__}, cannot take '{name}'",
                         reason="wrong_type")
    if match and match.group("all"):
        if not isinstance(value, list):
            raise FieldError(canonical, f"path '{path}': '{name}' is {type(value).__name__}, not a list",
                             reason="wrong_type")
        texts = [_text(_walk(item, rest, path, canonical, done + [f"{name}[{i}]"]), path, canonical)
                 for i, item in enumerate(value)]
        return "\n\n".join(t for t in texts if t)
    return _walk(value, rest, path, canonical, done + [name])


def _text(value: Any, path: str, canonical: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    raise FieldError(canonical, f"path '{path}' leads to {type(value).__name__}, not text", reason="wrong_type")


def text_value(obj: dict, raw_key: Any, canonical: str, required: bool) -> str | None:
    """Fetch a text field (or a path into nested data, see `resolve_path`), accepting numbers and
    booleans as text, refusing lists and objects."""
    key = str(raw_key)
    if key not in obj and is_path(key):
        value = resolve_path(obj, key, canonical)
        if value is None and required:
            raise FieldError(canonical, f"path '{key}' is null")
        return _text(value, key, canonical)
    if key not in obj:
        if required:
            raise FieldError(canonical, f"missing (expected raw field '{key}'); fields present: "
                                        f"{sorted(map(str, obj))}")
        return None
    value = obj[key]
    if value is None:
        if required:
            raise FieldError(canonical, f"raw field '{key}' is null")
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):  # bool is an int too
        return str(value)
    raise FieldError(canonical, f"raw field '{key}' should be text, got {type(value).__name__}"
                                + (f" (map a path into it, e.g. '{key}.0.text' or '{key}[*].text')"
                                   if isinstance(value, (list, dict)) else ""), reason="wrong_type")


ROLE_ALIASES = {
    "human": "user", "user": "user", "prompter": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "model": "assistant", "bot": "assistant",
    "system": "system", "tool": "tool", "function": "tool", "observation": "tool",
}


def parse_history(value: Any, field_name: str = "history") -> list[dict] | None:
    """Earlier turns as [{role, content}]: accepts [[user, assistant], ...] pairs (LIMA/Alpaca)
    or lists of {role, content} / {from, value} turns (messages / ShareGPT)."""
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise FieldError(field_name, f"should be a list of turns, got {type(value).__name__}", "wrong_type")
    turns: list[dict] = []
    for i, item in enumerate(value):
        if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            turns += [{"role": "user", "content": item[0]}, {"role": "assistant", "content": item[1]}]
        elif isinstance(item, dict):
            turns.append(turn_from_dict(item, f"{field_name}[{i}]"))
        else:
            raise FieldError(field_name, f"turn {i} should be a [user, assistant] pair or a "
                                         f"{{role, content}} object", "wrong_type")
    return turns


def turn_from_dict(item: dict, where: str) -> dict:
    role = item.get("role", item.get("from"))
    content = item.get("content", item.get("value"))
    if isinstance(content, list):  # OpenAI content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(role, str) or not isinstance(content, str):
        raise FieldError(where, "a turn needs text 'role'/'from' and 'content'/'value'", "wrong_type")
    return {"role": ROLE_ALIASES.get(role.lower(), role.lower()), "content": content}
