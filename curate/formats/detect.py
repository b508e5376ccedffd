"""Format auto-detection from the keys of the first object of a file.

The order matters: more specific layouts (LIMA's history, Self-Instruct's instances) are tried
before the general ones they contain.
"""

from __future__ import annotations

from ..errors import DataError
from .base import FORMATS

DETECTION_ORDER = ["sharegpt", "messages", "squad", "super_ni", "instruction_induction", "self_instruct",
                   "curate", "lima", "alpaca", "dolly", "prompt_completion", "qa", "prompts"]


def detect_format(keys: set[str], where: str) -> str:
    for name in DETECTION_ORDER:
        if FORMATS[name].detect(keys):
            return name
    known = ", ".join(DETECTION_ORDER)
    raise DataError(
        f"{where}: cannot tell the format from the fields {sorted(keys)}. Known formats: {known}. "
        "Set `format:` on the input, or map fields with `fields: {instruction: ..., response: ...}`.")
