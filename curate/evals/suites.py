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

A suite YAML may also start from a built-in one and change some settings:

    base: conflictqa-choice       # any built-in suite name
    indicator: " [IND]"           # appended to every query's user turn (conditional instruction tuning)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ..errors import ConfigError
from .loglik_scoring import LOGLIK_SCORERS, LOWER_IS_BETTER
from .scorers import SCORERS

DATA_ENV = "CURATE_DATA"
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
    options_fields: list[str] = Field(default_factory=list, description="choice: columns holding one option "
                                                                        "each (e.g. [A, B, C, D])")
    options: Optional[str] = Field(None, description="choice: 'letters' (the item's (A) ... lines), 'answers' (the "
                                                     "distinct answers of the item's group) or 'auto' (letters "
                                                     "when the item has them, else answers)")
    gold_field: Optional[str] = Field(None, description="choice: column with the gold option's index or text "
                                                        "(default: the item's response)")
    measures: Optional[str] = Field(None, description="what the suite measures, for `curate eval --list`")
    indicator: Optional[str] = Field(None, description="text appended to every query's user turn (e.g. \" [IND]\", "
                                                       "as mark.context_indicator puts it in training data)")
    _file: Optional[str] = PrivateAttr(None)

    def where(self) -> str:
        """How errors name the suite: its YAML file, else its built-in name."""
        return f"suite file {self._file}" if self._file else f"suite {self.name}"

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
            self.require_instruction = True
            if self.scorer != "ref_loss":       # ref_loss reads the steps' answers joined, the item's response
                self.scorer = "steps_in_order"
                self.references_field = self.references_field or "steps"
        return self


def data_dir() -> Path | None:
    """Where the built-in suites' files are: `--data-dir` or `$CURATE_DATA` (a folder laid out as
    the project's shared data: gsm8k/, instruction_induction/, bbh_instruction_format/, ...)."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def _shared(pattern: str) -> str:
    return str((data_dir() or Path(f"${DATA_ENV}")) / pattern)


def _ii_execute(tasks: list[str]) -> list[dict]:
    return [{"path": _shared(f"instruction_induction/raw/execute/{t}.json")} for t in tasks]


II = "github: orhonovich/instruction-induction"
COI = "github: amazon-science/chain-of-instructions"
CONFLICTQA = "github: OSU-NLP-Group/LLM-Knowledge-Conflict"
CONFLICTQA_FILE = "conflictqa/conflictQA-strategyQA-chatgpt.json"
COUNTER_SYSTEM = "Answer according to the passage, even if you believe otherwise."


def _ii_tasks(part: str, default: list[str]) -> list[str]:
    return part.split(",") if part else default


def _bbh_inputs(part: str) -> list[dict]:
    return [{"path": _shared(f"bbh_instruction_format/test_{part or '*'}"), "task": "{stem}"}]


def _coi_inputs(part: str) -> list[dict]:
    return [{"path": _shared(f"chain_of_instructions/test/{part or 'coi*'}_test.json")}]


def _xquad_inputs(part: str) -> list[dict]:
    return [{"path": _shared(f"xquad/xquad.{part or 'en'}.json")}]


# name -> (what it measures, the public source of its files, the suite's settings from the part after ':')
BUILTINS = {
    "gsm8k": ("grade-school maths, generated solution, the number after #### (exact)", "openai/gsm8k",
              lambda part: dict(inputs=[{"path": _shared("gsm8k/test.jsonl")}], scorer="numeric",
                                max_new_tokens=256, group_by=None,
                                system="Solve the problem step by step, then give the final answer after ####.")),
    "ii-execute": ("Instruction-Induction execute items [:TASK,...], generated answer, exact match", II,
                   lambda part: dict(inputs=_ii_execute(_ii_tasks(part, ["*"])), scorer="exact_match",
                                     max_new_tokens=24, group_by="task", stop=["\n"],
                                     system="Answer with the output only.", require_instruction=True)),
    "ii-single": ("the sequential suite's items without the extra step, generated, steps_in_order", II,
                  lambda part: dict(inputs=_ii_execute(_ii_tasks(part, SEQUENTIAL_TASKS)), scorer="steps_in_order",
                                    max_new_tokens=48, group_by="task", require_instruction=True,
                                    system=STEPS_SYSTEM)),
    "ii-single-loss": ("ii-single by per-token loss of the reference answer (lower is better; no generation)", II,
                       lambda part: dict(inputs=_ii_execute(_ii_tasks(part, SEQUENTIAL_TASKS)), scorer="ref_loss",
                                         group_by="task", require_instruction=True, system=STEPS_SYSTEM)),
    "ii-sequential": ("two-step items (a held-out extra step), generated, share of step answers given in order",
                      II, lambda part: dict(inputs=_ii_execute(_ii_tasks(part, SEQUENTIAL_TASKS)),
                                            max_new_tokens=96, group_by="task", sequential=True,
                                            system=STEPS_SYSTEM)),
    "ii-sequential-loss": ("ii-sequential by per-token loss of the step answers, one per line (lower is better; "
                           "no generation)", II,
                           lambda part: dict(inputs=_ii_execute(_ii_tasks(part, SEQUENTIAL_TASKS)), scorer="ref_loss",
                                             group_by="task", sequential=True, system=STEPS_SYSTEM)),
    "bbh": ("BIG-Bench Hard [:TASK], generated answer, exact match", "lukaemon/bbh",
            lambda part: dict(inputs=_bbh_inputs(part), scorer="exact_match", max_new_tokens=32, group_by="task",
                              stop=["\n"], system="Answer with the answer only.")),
    "bbh-choice": ("BIG-Bench Hard [:TASK] multiple choice by log-likelihood of each option (no generation): acc, "
                   "acc_norm, margin", "lukaemon/bbh",
                   lambda part: dict(inputs=_bbh_inputs(part), scorer="choice", group_by="task", options="auto",
                                     system="Answer with the answer only.")),
    "xquad": ("XQuAD [:LANG] reading comprehension, generated span, SQuAD F1", "google/xquad",
              lambda part: dict(inputs=_xquad_inputs(part), scorer="squad_f1", max_new_tokens=32, group_by=None,
                                stop=["\n"], system="Answer with a short span copied from the passage.")),
    "xquad-contains": ("XQuAD [:LANG], generated answer, right when it contains the reference span (the "
                       "context-awareness paper's metric)", "google/xquad",
                       lambda part: dict(inputs=_xquad_inputs(part), scorer="contains", max_new_tokens=64,
                                         group_by=None, stop=["\n\n"],
                                         system="Answer the question using the passage.")),
    "xquad-loss": ("XQuAD [:LANG] by per-token loss of the reference span given the passage (lower is better)",
                   "google/xquad",
                   lambda part: dict(inputs=_xquad_inputs(part), scorer="ref_loss", group_by=None,
                                     system="Answer with a short span copied from the passage.")),
    "coi": ("Chain-of-Instructions test chains [:coi2|coi3], generated, ROUGE-L against the labelled reference",
            COI, lambda part: dict(inputs=_coi_inputs(part), scorer="rouge_l", max_new_tokens=256,
                                   group_by="source")),
    "coi-content": ("coi scored without the 'Task N output' labels (ROUGE-L of the content)", COI,
                    lambda part: dict(inputs=_coi_inputs(part), scorer="rouge_l_content", max_new_tokens=256,
                                      group_by="source")),
    "coi-loss": ("coi by per-token loss of the reference chain output (lower is better; no generation)", COI,
                 lambda part: dict(inputs=_coi_inputs(part), scorer="ref_loss", group_by="source")),
    "conflictqa": ("faithfulness to a counter-memory passage: generated yes/no agrees with the passage, not "
                   "with what the model believes", CONFLICTQA,
                   lambda part: dict(inputs=[{"path": _shared(CONFLICTQA_FILE),
                                              "fields": {"instruction": "question", "context": "counter_memory",
                                                         "response": "counter_answer"},
                                              "keep": ["ground_truth"]}],
                                     scorer="faithfulness", max_new_tokens=16, group_by=None, stop=["\n"],
                                     system="Answer yes or no according to the passage, even if you believe "
                                            "otherwise.")),
    "conflictqa-choice": ("faithfulness without generation: given the counter-memory passage, the passage's answer "
                          "against the model's memory answer (two options, log-likelihood): acc, margin",
                          CONFLICTQA,
                          lambda part: dict(inputs=[{"path": _shared(CONFLICTQA_FILE),
                                                     "fields": {"instruction": "question", "context": "counter_memory",
                                                                "response": "counter_answer"},
                                                     "keep": ["memory_answer"]}],
                                            scorer="choice", group_by=None, options_fields=["response", "memory_answer"],
                                            system=COUNTER_SYSTEM)),
}
HUB_SOURCES = {name: entry[1] for name, entry in BUILTINS.items()}


def builtin(name: str) -> SuiteSpec:
    """Built-in suites over the data folder (`data_dir`). `ii-execute:TASK[,TASK...]`, `bbh:TASK`,
    `xquad:LANG` pick parts. A suite whose files are missing says where they come from."""
    import glob
    base, _, part = name.partition(":")
    if base not in BUILTINS:
        raise ConfigError(f"unknown suite '{name}'; built-in suites: {', '.join(BUILTINS)} "
                          "(`curate eval --list` says what each measures); or a suite YAML file")
    if data_dir() is None:
        raise ConfigError(f"built-in suites read their files from a data folder: pass --data-dir DIR or set "
                          f"{DATA_ENV}=DIR (for example the project's ../shared/data)")
    measures, source, settings = BUILTINS[base]
    spec = SuiteSpec(name=name, measures=measures, **settings(part))
    for item in spec.inputs:
        if not glob.glob(item["path"]):
            raise ConfigError(f"suite {name}: no data at {item['path']}; point --data-dir (or {DATA_ENV}) at a folder "
                              f"that has it, or get it from {source} (docs/TRAINING.md lists each suite's files)")
    return spec


def listing(width: int = 80) -> str:
    """`curate eval --list`: every built-in suite, its scorer, what it measures, where its files come
    from and whether the data folder has them, wrapped to `width` columns."""
    import glob
    import textwrap
    lines = [f"data folder: {data_dir() or f'not set (--data-dir or {DATA_ENV})'}", ""]
    for name, (measures, source, settings) in BUILTINS.items():
        spec = SuiteSpec(name=name, **settings(""))
        found = "missing" if data_dir() is None or not all(glob.glob(i["path"]) for i in spec.inputs) else "found"
        lower = ", lower is better" if spec.scorer in LOWER_IS_BETTER else ""
        lines.append(f"{name}  [{spec.scorer}{lower}]  data: {found}")
        lines += textwrap.wrap(measures, width, initial_indent="    ", subsequent_indent="    ")
        lines.append(f"    source: {source}")
    return "\n".join(lines)


def load_suite(name_or_file: str) -> SuiteSpec:
    path = Path(name_or_file)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"suite file does not exist: {name_or_file}")
        data = yaml.safe_load(path.read_text()) or {}
        base = data.pop("base", None) if isinstance(data, dict) else None
        own_inputs = isinstance(data, dict) and "inputs" in data
        if base is not None:                 # a built-in suite with some settings changed (e.g. indicator)
            inherited = builtin(str(base)).model_dump(exclude={"name", "measures"})
            data = {**inherited, **data}
        try:
            spec = SuiteSpec.model_validate({"name": path.stem, **data})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{name_or_file}: {problems}") from None
        spec._file = str(path)
        for item in spec.inputs:                              # paths relative to the suite file
            if own_inputs and "path" in item and not Path(item["path"]).is_absolute():
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
