"""Generator mode of `compose.sequential`, the SIT paper's pipeline with a model in the loop:

1. classify each instruction: `split` (two tasks in one), `prefix` (add a step before), `suffix`
   (add a step after) or `keep`;
2. rewrite it into a sequential instruction with the chosen method;
3. answer the rewritten instruction (the regenerated response).

Every model output passes a format check before it is used; failures go to the ledger with the
reason (`generator_error` for failed calls, `generator_format` for unusable outputs, and
`generator_keep` when the model says the instruction should stay single). Prompts are plain text
files with `{instruction}` / `{input}` / `{method}` fields; a recipe may point at its own.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import ConfigError
from ...io.files import find_file
from ...records import to_messages
from .phrasing import already_sequential
from .text_kind import sentences

PROMPTS = Path(__file__).parent / "prompts"
DEFAULT_PROMPTS = {"classify": PROMPTS / "sit_classify.txt", "rewrite": PROMPTS / "sit_rewrite.txt"}
METHODS = {
    "split": "split the instruction into two explicit steps, one per task it contains",
    "prefix": "add a first step before the original task (such as restating, extracting or translating the input)",
    "suffix": "add a step after the original task (such as summarising, formatting or checking the answer)",
}
LABEL = re.compile(r"\b(split|prefix|suffix|keep)\b", re.IGNORECASE)


def load_prompts(overrides: dict[str, str], base_dir: str | None) -> dict[str, str]:
    prompts = {}
    for name, default in DEFAULT_PROMPTS.items():
        path = Path(overrides.get(name, default))
        if name in overrides:               # the working directory, then the recipe's folder
            path = find_file(path, base_dir) or path
        if not path.is_file():
            raise ConfigError(f"prompt file for '{name}' does not exist: {path}")
        prompts[name] = path.read_text()
    return prompts


def fill(template: str, **fields: str) -> str:
    """str.format for user-edited prompt files: only the named fields are replaced, other braces stay."""
    for key, value in fields.items():
        template = template.replace("{" + key + "}", value)
    return template


def parse_label(text: str) -> str | None:
    m = LABEL.search(text or "")
    return m.group(1).lower() if m else None


def check_rewrite(original: str, rewritten: str) -> str | None:
    """Why a rewritten instruction is unusable, or None."""
    text = (rewritten or "").strip().strip('"')
    if not text:
        return "empty rewrite"
    if text.casefold() == original.strip().casefold():
        return "rewrite equals the original"
    if len(text) > 4 * len(original) + 400:
        return "rewrite is far longer than the original"
    if already_sequential(text) is None and len(sentences(text)) < 2:
        return "rewrite does not have two steps"
    return None


def check_response(text: str | None) -> str | None:
    if not text or len(text.split()) < 2:
        return "empty or one-word response"
    return None


def clean(text: str) -> str:
    return text.strip().strip('"').strip()


def _no_label(text: str) -> str | None:
    return None if parse_label(text) else f"no label in {text[:80]!r}"


def run(rows: list[dict], generator, prompts: dict[str, str]) -> tuple[list[tuple[dict, str, str, str]],
                                                                      list[tuple[dict, str, str]]]:
    """For each row: (row, method, new instruction, new response) or a failure (row, reason, detail)."""
    made, failed = [], []
    asks = [[{"role": "user", "content": fill(prompts["classify"], instruction=r["instruction"],
                                              input=r.get("context") or "(none)")}] for r in rows]
    classified = []
    for row, answer in zip(rows, generator.complete(asks)):
        problem = answer.failure("classify", _no_label)
        if problem:
            failed.append((row, *problem))
        elif parse_label(answer.text) == "keep":
            failed.append((row, "generator_keep", "the model chose to keep the instruction single"))
        else:
            classified.append((row, parse_label(answer.text)))
    asks = [[{"role": "user", "content": fill(prompts["rewrite"], instruction=r["instruction"],
                                              input=r.get("context") or "(none)", method=METHODS[m])}]
            for r, m in classified]
    rewritten = []
    for (row, method), answer in zip(classified, generator.complete(asks)):
        problem = answer.failure("rewrite", lambda text: check_rewrite(row["instruction"], text))
        if problem:
            failed.append((row, *problem))
        else:
            rewritten.append((row, method, clean(answer.text)))
    asks = [to_messages({**row, "instruction": new, "response": ""})[:-1] for row, _, new in rewritten]
    for (row, method, new), answer in zip(rewritten, generator.complete(asks)):
        problem = answer.failure("respond", check_response)
        if problem:
            failed.append((row, *problem))
        else:
            made.append((row, method, new, answer.text.strip()))
    return made, failed
