"""`curate steps`: what every step does, and one step's config fields with their defaults.

Printed as text rather than a four-column table: at 80 columns a table cut defaults and
descriptions into slivers, and rich markup swallowed bracketed text such as `[en]`.
"""

from __future__ import annotations

import textwrap


def type_name(ann) -> str:
    text = getattr(ann, "__name__", None) if not getattr(ann, "__args__", None) else None
    return text or str(ann).replace("typing.", "")


def first_sentence(doc: str, limit: int = 150) -> str:
    text = " ".join(doc.split())
    cut = text.find(". ")
    text = text[:cut + 1] if cut >= 0 else text
    return text if len(text) <= limit else text[:text.rfind(" ", 0, limit)] + " …"


def overview(classes: list, width: int) -> str:
    """One line per step: its name, scope and first sentence, wrapped under the name."""
    name_width = max(len(c.name) for c in classes) + 2
    lines = []
    for cls in classes:
        body = textwrap.wrap(first_sentence(cls.__doc__ or ""), max(20, width - name_width)) or [""]
        lines.append(f"{cls.name:<{name_width}}{body[0]}")
        lines += [" " * name_width + more for more in body[1:]]
    lines.append("")
    lines.append("`curate steps NAME` shows one step's fields and defaults.")
    return "\n".join(lines)


def detail(cls, width: int) -> str:
    """A step's whole description, then each config field: `name: type = default` and its meaning."""
    lines = [f"{cls.name}  (version {cls.version}, scope: {cls.scope})", ""]
    lines += textwrap.wrap(" ".join((cls.__doc__ or "").split()), width)
    lines += ["", "fields (`with:` in a recipe):"]
    for fname, f in cls.Config.model_fields.items():
        default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
        lines += textwrap.wrap(f"{fname}: {type_name(f.annotation)} = {default}", width, initial_indent="  ",
                               subsequent_indent="      ")
        if f.description:
            lines += textwrap.wrap(f.description, width, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)
