"""Eval suites: data + prompt + scorer. Built-in ones read the data folder (`--data-dir`,
`$CURATE_DATA`); users write YAML.

A suite YAML:

    name: my-qa
    inputs:                       # recipe-style inputs: any format curate reads
      - path: evals/my_qa.jsonl
    scorer: exact_match           # exact_match, squad_f1, numeric, multiple_choice, rouge_l, contains_all, faithfulness
    max_new_tokens: 32
    group_by: task                # report per group as well (task or source)
    system: Answer briefly.       # optional system prompt
    stop: ["\\n\\n"]              # optional stop strings

Each record's conversation without its response is the prompt (`records.to_messages`, the one
renderer); the response is the reference (`references_field` names a column holding a JSON list
of alternatives instead).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError
from .loglik_scoring import LOGLIK_SCORERS
from .scorers import SCORERS

DATA_ENV = "CURATE_DATA"
# The public Hub dataset each built-in suite's files correspond to, for users who are online.
HUB_SOURCES = {"gsm8k": "openai/gsm8k", "ii-execute": "github: orhonovich/instruction-induction",
               "ii-single": "github: orhonovich/instruction-induction",
               "ii-sequential": "github: orhonovich/instruction-induction", "bbh": "lukaemon/bbh",
               "bbh-choice": "lukaemon/bbh", "xquad": "google/xquad", "xquad-loss": "google/xquad",
               "coi": "github: amazon-science/chain-of-instructions",
               "coi-content": "github: amazon-science/chain-of-instructions",
               "conflictqa": "github: OSU-NLP-Group/LLM-Knowledge-Conflict"}
# Instruction-Induction tasks with one exact answer per item: the base of the sequential suite.
SEQUENTIAL_TASKS = ["sum", "diff", "first_word_letter", "second_word_letter", "singular_to_plural",
                    "num_to_verbal", "letters_list", "larger_animal", "active_to_passive", "negation"]
STEPS_SYSTEM = "Do every step in order. Give each step's result on its own line."


class SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    inputs: list[dict] = Field(description="recipe-style input specs")
    scorer: str = Field("exact_match")
    max_new_tokens: int = Field(32, ge=1)
    group_by: Optional[str] = Field("task")
    system: Optional[str] = None
    stop: list[str] = Field(default_factory=list)
    references_field: Optional[str] = Field(None, description="column with a JSON list of reference answers")
    memory_field: Optional[str] = Field(None, description="faithfulness: column with the memorised answer(s)")
    limit_per_group: Optional[int] = Field(None, ge=1, description="first N items of each group")
    require_instruction: bool = Field(False, description="stop when an item has no instruction (a task whose "
                                                           "instructions live in a separate file that is missing)")
    sequential: bool = Field(False, description="turn each item into a two-step item (a held-out bank step "
                                                "before or after it), scored per step")
    options_field: Optional[str] = Field(None, description="choice: column with the options (a list, a JSON "
                                                           "list, or text split by options_sep)")
    options_sep: Optional[str] = Field(None, description="choice: separator of options given as text (newline)")
    options: Optional[str] = Field(None, description="choice: 'letters' (the item's (A) ... lines), 'answers' (the "
                                                     "distinct answers of the item's group) or 'auto' (letters "
                                                     "when the item has them, else answers)")
    gold_field: Optional[str] = Field(None, description="choice: column with the gold option's index or text "
                                                        "(default: the item's response)")
    measures: Optional[str] = Field(None, description="what the suite measures, for `curate eval --list`")

    @field_validator("scorer")
    @classmethod
    def _known(cls, v):
        if v not in SCORERS and v not in LOGLIK_SCORERS:
            raise ValueError(f"unknown scorer '{v}'; valid scorers: {', '.join([*SCORERS, *sorted(LOGLIK_SCORERS)])}")
        return v

    @model_validator(mode="after")
    def _sequential_items_score_each_step(self):
        """A sequential suite's references are its items' step answers, each step scored, and its
        items need an instruction to add a step to."""
        if self.sequential:
            self.scorer = "steps_in_order"
            self.references_field = self.references_field or "steps"
            self.require_instruction = True
        return self


def data_dir() -> Path | None:
    """Where the built-in suites' files are: `--data-dir` or `$CURATE_DATA` (a folder laid out as
    the project's shared data: gsm8k/, instruction_induction/, bbh_instruction_format/, ...)."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def _shared(pattern: str) -> str:
    root = data_dir()
    if root is None:
        raise ConfigError(f"built-in suites read their files from a data folder: pass --data-dir DIR or set "
                          f"{DATA_ENV}=DIR (for example the project's ../shared/data)")
    return str(root / pattern)


def _ii_execute(tasks: list[str]) -> list[dict]:
    return [{"path": _shared(f"instruction_induction/raw/execute/{t}.json")} for t in tasks]


def builtin(name: str) -> SuiteSpec:
    """Built-in suites over the data folder (`data_dir`). `ii-execute:TASK[,TASK...]`, `bbh:TASK`,
    `xquad:LANG` pick parts. A suite whose files are missing says where they come from."""
    spec = _builtin(name)
    base = name.partition(":")[0]
    for item in spec.inputs:
        import glob
        if not glob.glob(item["path"]):
            raise ConfigError(f"suite {name}: no data at {item['path']}; point --data-dir (or {DATA_ENV}) at a folder "
                              f"that has it, or get it from {HUB_SOURCES.get(base, 'its source')} "
                              "(docs/TRAINING.md lists each suite's files)")
    return spec


def _builtin(name: str) -> SuiteSpec:
    base, _, part = name.partition(":")
    if base == "gsm8k":
        return SuiteSpec(name=name, inputs=[{"path": _shared("gsm8k/test.jsonl")}], scorer="numeric",
                         max_new_tokens=256, group_by=None,
                         system="Solve the problem step by step, then give the final answer after ####.")
    if base == "ii-execute":
        return SuiteSpec(name=name, inputs=_ii_execute(part.split(",") if part else ["*"]), scorer="exact_match",
                         max_new_tokens=24, group_by="task", stop=["\n"], system="Answer with the output only.",
                         require_instruction=True)
    if base == "ii-single":             # the sequential suite's items without the extra step, scored alike
        return SuiteSpec(name=name, inputs=_ii_execute(part.split(",") if part else SEQUENTIAL_TASKS),
                         scorer="steps_in_order", max_new_tokens=48, group_by="task", require_instruction=True,
                         system=STEPS_SYSTEM)
    if base == "ii-sequential":
        return SuiteSpec(name=name, inputs=_ii_execute(part.split(",") if part else SEQUENTIAL_TASKS),
                         max_new_tokens=96, group_by="task", sequential=True, system=STEPS_SYSTEM)
    if base == "bbh":
        return SuiteSpec(name=name, inputs=[{"path": _shared(f"bbh_instruction_format/test_{part or '*'}"),
                                             "task": "{stem}"}],
                         scorer="exact_match", max_new_tokens=32, group_by="task", stop=["\n"],
                         system="Answer with the answer only.")
    if base == "bbh-choice":            # log-likelihood of each option: no generation
        return SuiteSpec(name=name, inputs=[{"path": _shared(f"bbh_instruction_format/test_{part or '*'}"),
                                             "task": "{stem}"}], scorer="choice", group_by="task",
                         options="auto", system="Answer with the answer only.",
                         measures="BBH multiple choice by log-likelihood of each option (no generation): acc, "
                                  "acc_norm, margin")
    if base == "xquad-loss":
        lang = part or "en"
        return SuiteSpec(name=name, inputs=[{"path": _shared(f"xquad/xquad.{lang}.json")}], scorer="ref_loss",
                         group_by=None, system="Answer with a short span copied from the passage.",
                         measures="mean per-token loss of the reference answer span given the passage (lower is "
                                  "better)")
    if base == "xquad":
        lang = part or "en"
        return SuiteSpec(name=name, inputs=[{"path": _shared(f"xquad/xquad.{lang}.json")}], scorer="squad_f1",
                         max_new_tokens=32, group_by=None, stop=["\n"],
                         system="Answer with a short span copied from the passage.")
    if base in ("coi", "coi-content"):      # coi-content: ROUGE-L without the step labels
        return SuiteSpec(name=name, inputs=[{"path": _shared(f"chain_of_instructions/test/{part or 'coi*'}_test.json")}],
                         scorer="rouge_l" if base == "coi" else "rouge_l_content", max_new_tokens=256,
                         group_by="source")
    if base == "conflictqa":
        return SuiteSpec(name=name, inputs=[{"path": _shared("conflictqa/conflictQA-strategyQA-chatgpt.json"),
                                             "fields": {"instruction": "question", "context": "counter_memory",
                                                        "response": "counter_answer"},
                                             "keep": ["ground_truth"]}],
                         scorer="faithfulness", max_new_tokens=16, group_by=None, stop=["\n"],
                         system="Answer yes or no according to the passage, even if you believe otherwise.")
    raise ConfigError(f"unknown suite '{name}'; built-in suites: gsm8k, ii-execute[:TASK,...], "
                      "ii-sequential[:TASK,...], ii-single[:TASK,...], bbh[:TASK], coi-content, "
                      "xquad[:LANG], coi, conflictqa; or a suite YAML file")


def load_suite(name_or_file: str) -> SuiteSpec:
    path = Path(name_or_file)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"suite file does not exist: {name_or_file}")
        data = yaml.safe_load(path.read_text())
        try:
            spec = SuiteSpec.model_validate({"name": path.stem, **(data or {})})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{name_or_file}: {problems}") from None
        for item in spec.inputs:                              # paths relative to the suite file
            if "path" in item and not Path(item["path"]).is_absolute():
                item["path"] = str(path.parent / item["path"])
        return spec
    return builtin(name_or_file)


def suite_dirname(suite: str) -> str:
    """A folder name for a suite's eval outputs (built-in name with parts, or a file path)."""
    return "eval-" + suite.replace(":", "_").replace("/", "_").replace(",", "+")


def _believes_true(record: dict) -> bool | None:
    """ConflictQA: the ground truth (what the model's memory says); None when the record has none."""
    if record.get("ground_truth") is None:
        return None
    return json.loads(record["ground_truth"])[0] in ("True", True)


def references(record: dict, spec: SuiteSpec) -> list[str]:
    if spec.references_field:
        value = record.get(spec.references_field)
        refs = json.loads(value) if isinstance(value, str) and value.startswith("[") else [value]
        return [str(r) for r in refs if r is not None]
    truth = _believes_true(record) if spec.scorer == "faithfulness" else None
    if truth is not None:
        return ["no" if truth else "yes"]                     # the counter-memory passage argues the opposite
    return [record.get("response") or ""]


def memory(record: dict, spec: SuiteSpec) -> list[str]:
    truth = _believes_true(record) if spec.scorer == "faithfulness" else None
    if truth is not None:
        return ["yes" if truth else "no"]
    if spec.memory_field and record.get(spec.memory_field):
        return [str(record[spec.memory_field])]
    return []
