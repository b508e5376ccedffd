"""Nested formats where one raw object holds many records: SQuAD-style QA, Self-Instruct seed
tasks, Super-NaturalInstructions and Instruction-Induction task files.

Task files carry their task name in the file name, so these adapters read `options["stem"]`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from .base import FieldError, Format, Mapping, register_format, text_value


def squad_records(obj: dict, mapping: Mapping, options: dict) -> list[dict]:
    records = []
    for article in obj.get("data") or []:
        for paragraph in article.get("paragraphs") or []:
            context = paragraph.get("context")
            for qa in paragraph.get("qas") or []:
                answers = qa.get("answers") or []
                if not answers:
                    continue  # SQuAD 2.0 unanswerable questions have no target text
                records.append({"instruction": text_value(qa, "question", "instruction", True),
                                "context": context, "response": answers[0].get("text", ""),
                                "task": article.get("title")})
    return records


def self_instruct_records(obj: dict, mapping: Mapping, options: dict) -> list[dict]:
    instruction = text_value(obj, "instruction", "instruction", True)
    instances = obj.get("instances")
    if not isinstance(instances, list):
        raise FieldError("instances", "should be a list of {input, output}", "wrong_type")
    return [{"instruction": instruction, "context": text_value(inst, "input", "context", False) or None,
             "response": text_value(inst, "output", "response", True), "task": obj.get("name")}
            for inst in instances]


def super_ni_records(obj: dict, mapping: Mapping, options: dict) -> list[dict]:
    definition = obj.get("Definition")
    instruction = definition[0] if isinstance(definition, list) and definition else definition
    if not isinstance(instruction, str):
        raise FieldError("Definition", "should be a list with the task definition text", "wrong_type")
    out = []
    for inst in obj.get("Instances") or []:
        outputs = inst.get("output")
        response = outputs[0] if isinstance(outputs, list) and outputs else outputs
        if not isinstance(response, str):
            raise FieldError("Instances.output", "should be a list of answer strings", "wrong_type")
        out.append({"instruction": instruction, "context": inst.get("input"), "response": response,
                    "task": options.get("stem")})
    return out


def _gold_instruction(path: str | None, stem: str) -> str:
    """Instruction-Induction keeps gold instructions in ../../annotations/<task>.json."""
    if not path:
        return ""
    candidate = Path(path).resolve().parent.parent.parent / "annotations" / f"{stem}.json"
    if candidate.is_file():
        annotations = orjson.loads(candidate.read_bytes()).get("annotations") or [""]
        return annotations[0]
    return ""


def _ii_example(key: str, ex: dict) -> tuple[str, str]:
    if "cause" in ex:  # two sentences in a stable pseudo-random order; the answer is the cause
        flip = hashlib.blake2b(key.encode(), digest_size=1).digest()[0] % 2
        a, b = (ex["effect"], ex["cause"]) if flip else (ex["cause"], ex["effect"])
        return f"Sentence 1: {a} Sentence 2: {b}", ex["cause"]
    if "items" in ex:
        return ", ".join(ex["items"]), ex["concept"]
    if "input" not in ex or "output" not in ex:
        raise FieldError("examples", f"example {key} has no input/output (keys: {sorted(ex)})")
    return str(ex["input"]), str(ex["output"])


def instruction_induction_records(obj: dict, mapping: Mapping, options: dict) -> list[dict]:
    stem = options.get("stem", "")
    instruction = _gold_instruction(options.get("path"), stem)
    examples = obj.get("examples")
    if not isinstance(examples, dict):
        raise FieldError("examples", "should map example ids to {input, output}", "wrong_type")
    records = []
    for key, ex in examples.items():
        context, response = _ii_example(f"{stem}/{key}", ex)
        records.append({"instruction": instruction, "context": context, "response": response, "task": stem})
    return records


register_format(Format(
    "squad", "SQuAD-style QA: data[].paragraphs[].{context, qas[{question, answers}]} (XQuAD too)",
    lambda k: "data" in k and "version" in k or k == {"data"}, squad_records, whole_file=True,
    example='{"data": [{"paragraphs": [{"context": "...", "qas": [{"question": "...", "answers": [{"text": "..."}]}]}]}]}'))
register_format(Format(
    "self_instruct", "Self-Instruct tasks: instruction, instances [{input, output}]",
    lambda k: {"instruction", "instances"} <= k, self_instruct_records,
    example='{"name": "t", "instruction": "...", "instances": [{"input": "", "output": "..."}]}'))
register_format(Format(
    "super_ni", "Super-NaturalInstructions task file: Definition, Instances [{input, output[]}]",
    lambda k: {"Definition", "Instances"} <= k, super_ni_records, whole_file=True,
    example='{"Definition": ["..."], "Instances": [{"input": "...", "output": ["..."]}]}'))
register_format(Format(
    "instruction_induction", "Instruction-Induction task file: metadata, examples {id: {input, output}} "
    "(gold instruction from ../../annotations/<task>.json when present)",
    lambda k: {"examples", "metadata"} <= k, instruction_induction_records, whole_file=True,
    example='{"metadata": {"num_examples": 2}, "examples": {"1": {"input": "...", "output": "..."}}}'))
