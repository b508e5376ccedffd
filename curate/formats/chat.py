"""Chat formats: a conversation whose last assistant turn is the response.

The final assistant turn becomes `response`, the user turn before it `instruction`, a leading
system turn `system`, and everything earlier `history`. Context cannot be told apart from the
instruction inside a chat message, so chat formats read it as part of the instruction.
"""

from __future__ import annotations

from .base import FieldError, Format, Mapping, register_format, turn_from_dict


def split_conversation(turns: list[dict], system: str | None) -> dict:
    if turns and turns[0]["role"] == "system":
        system = turns[0]["content"]
        turns = turns[1:]
    if len(turns) < 2:
        raise FieldError("conversation", f"needs a user turn and an assistant turn, got {len(turns)} turn(s)")
    last, prev = turns[-1], turns[-2]
    if last["role"] != "assistant":
        raise FieldError("conversation", f"last turn is from '{last['role']}', expected an assistant reply")
    if prev["role"] != "user":
        raise FieldError("conversation", f"the turn before the reply is from '{prev['role']}', expected the user")
    return {"instruction": prev["content"], "response": last["content"], "context": None,
            "system": system, "history": turns[:-2] or None}


def _turns(obj: dict, key: str) -> list[dict]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise FieldError(key, f"should be a list of turns, got {type(value).__name__}",
                         "missing_field" if value is None else "wrong_type")
    turns = []
    for i, t in enumerate(value):
        if not isinstance(t, dict):
            raise FieldError(f"{key}[{i}]", "a turn should be an object", "wrong_type")
        turns.append(turn_from_dict(t, f"{key}[{i}]"))
    return turns


def sharegpt_records(obj: dict, mapping: Mapping, options: dict) -> list[dict]:
    turns = _turns(obj, str(mapping.get("conversations", "conversations")))
    chosen = obj.get("chosen")
    if isinstance(chosen, dict):  # preference data: the chosen reply is the response
        turns.append(turn_from_dict(chosen, "chosen"))
    system = obj.get(str(mapping.get("system", "system")))
    rec = split_conversation(turns, system if isinstance(system, str) else None)
    rec["task"] = obj.get("task") if isinstance(obj.get("task"), str) else None
    return [rec]


def messages_records(obj: dict, mapping: Mapping, options: dict) -> list[dict]:
    rec = split_conversation(_turns(obj, str(mapping.get("messages", "messages"))), None)
    rec["task"] = obj.get("task") if isinstance(obj.get("task"), str) else None
    return [rec]


register_format(Format(
    "sharegpt", "ShareGPT: conversations [{from, value}] (a `chosen` reply is taken as the response)",
    lambda k: "conversations" in k, sharegpt_records, {"conversations": "conversations"},
    example='{"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}]}'))
register_format(Format(
    "messages", "OpenAI / TRL messages: messages [{role, content}]",
    lambda k: "messages" in k, messages_records, {"messages": "messages"},
    example='{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}'))
