"""Sequential eval items from single-step ones: each item gets one intermediate step from the
bank, before or after its task, phrased with the held-out phrasing and connective that training
data never uses. The reference is the list of step answers in order, so every step is scored
(`steps_in_order`) and a model that does only the original task gets half.

Which step an item gets depends only on its id, so every model sees the same items.
"""

from __future__ import annotations

import hashlib
import json

from ..steps.compose.bank import BANK, TARGET_FIELD
from ..steps.compose.phrasing import join_answers, sequential_version

# (task, position, target) in order of preference; the first that applies after the item's hash
# rotation is used. All answers are exact, and none of these tasks draws a random parameter.
CHOICES = [("repeat_input", "prefix", "input"), ("uppercase", "suffix", "answer"),
           ("to_json", "suffix", "answer"), ("count_words", "prefix", "input"),
           ("uppercase", "prefix", "input"), ("reverse_words", "prefix", "input")]


def _rotation(item_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=4).digest(), "little") % len(CHOICES)


def sequential_item(record: dict) -> dict | None:
    """The two-step version of `record` (with `steps`: a JSON list of step answers), or None when
    no bank step applies."""
    start = _rotation(record["id"])
    for k in range(len(CHOICES)):
        name, position, target = CHOICES[(start + k) % len(CHOICES)]
        task = BANK[name]
        if task.check(record.get(TARGET_FIELD[target]), target) is not None:
            continue
        instruction, steps = sequential_version(record, task, position, target, held_out=True)
        return {**record, "instruction": instruction,
                "response": join_answers(steps), "steps": json.dumps(steps, ensure_ascii=False),
                "step_task": f"{position}:{name}"}
    return None
