"""Flat formats: one raw object is one record, fields map one to one (Alpaca, Dolly, LIMA, ...).

A user's `fields:` mapping overrides any default, so any flat layout can be read with
`format: custom` (or just a mapping) even when no built-in format matches.
"""

from __future__ import annotations

from typing import Any

from .base import FieldError, Format, Mapping, parse_history, register_format, text_value

PROMPT_SUFFIXES = ("<|endoftext|>", "</s>", "<|im_end|>", "<|eot_id|>")


def map_flat(obj: dict, mapping: Mapping, options: dict) -> list[dict]:
    """Apply a canonical->raw field mapping to one object."""
    needs_response = mapping.get("response") is not None
    rec: dict[str, Any] = {
        "instruction": text_value(obj, mapping["instruction"], "instruction", True),
        "response": text_value(obj, mapping["response"], "response", True) if needs_response else "",
    }
    for name in ("context", "system", "task", "source"):
        raw = mapping.get(name)
        rec[name] = text_value(obj, raw, name, False) if raw is not None else None
    if mapping.get("history") is not None:
        rec["history"] = parse_history(obj.get(str(mapping["history"])))
    if options.get("strip_eos", True):
        for name in ("instruction", "response"):
            for suffix in PROMPT_SUFFIXES:
                if rec[name].endswith(suffix):
                    rec[name] = rec[name][: -len(suffix)]
    if rec.get("context") == "":
        rec["context"] = None  # Alpaca writes "" for "no input"
    return [rec]


def _flat(name: str, description: str, defaults: Mapping, detect, example: str) -> Format:
    return register_format(Format(name=name, description=description, detect=detect,
                                  to_records=map_flat, defaults=defaults, example=example))


_flat("alpaca", "Alpaca / BBH / CoI: instruction, input, output (+ optional system, history)",
      {"instruction": "instruction", "context": "input", "response": "output",
       "system": "system", "history": "history"},
      lambda k: {"instruction", "output"} <= k,
      '{"instruction": "...", "input": "...", "output": "..."}')
_flat("curate", "curate's own records (a run's final.parquet, an exported dataset)",
      {"instruction": "instruction", "context": "context", "response": "response", "system": "system",
       "history": "history", "task": "task", "source": "source"},
      lambda k: {"instruction", "context", "response", "system", "history"} <= k,
      '{"id": "...", "instruction": "...", "context": null, "response": "...", "history": null, ...}')
_flat("lima", "LIMA / LLaMA-Factory multi-turn: instruction, input, output, history pairs",
      {"instruction": "instruction", "context": "input", "response": "output",
       "system": "system", "history": "history"},
      lambda k: {"instruction", "output", "history"} <= k,
      '{"instruction": "...", "input": "", "output": "...", "history": [["q", "a"]]}')
_flat("dolly", "Dolly: instruction, context, response, category",
      {"instruction": "instruction", "context": "context", "response": "response", "task": "category"},
      lambda k: {"instruction", "response"} <= k,
      '{"instruction": "...", "context": "...", "response": "...", "category": "closed_qa"}')
_flat("prompt_completion", "prompt / completion pairs (end-of-text markers are stripped)",
      {"instruction": "prompt", "response": "completion"},
      lambda k: {"prompt", "completion"} <= k,
      '{"prompt": "...", "completion": "..."}')
_flat("qa", "question / answer pairs (GSM8K and similar)",
      {"instruction": "question", "response": "answer", "context": "context"},
      lambda k: {"question", "answer"} <= k,
      '{"question": "...", "answer": "... #### 42"}')
_flat("prompts", "instructions without responses (eval prompts such as SeqEval); response is empty",
      {"instruction": "instruction", "context": "input", "response": None},
      lambda k: "instruction" in k and not k & {"output", "response", "instances"},
      '{"instruction": "..."}')
register_format(Format(
    name="custom", description="any flat layout: give every field in `fields:` (instruction and response at least)",
    detect=lambda k: False, to_records=map_flat, defaults={}, example="fields: {instruction: q, response: a}"))


def check_mapping(mapping: Mapping) -> None:
    if mapping.get("instruction") is None:
        raise FieldError("instruction", "no raw field is mapped to 'instruction'")
