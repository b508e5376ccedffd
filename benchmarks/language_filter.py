"""Benchmark: what `filter.language` keeps, at its defaults, on parallel text and on English data.

XQuAD holds the same 1,190 questions (with answers) in 12 languages; an English-only filter should
keep the English records and drop the others. The English instruction datasets measure the cost:
English records dropped by mistake (code, tables, short instructions lid.176 misreads).

    python benchmarks/language_filter.py            # needs ../shared/data

To compare with an older version of the step, run the same script with PYTHONPATH pointing at a
checkout of that version (RESULTS.md has version 1 beside version 2, measured that way).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
LANGS = "ar de el en es hi ro ru th tr vi zh".split()
ENGLISH = ["llamafactory_demo/alpaca_en_demo.json", "gsm8k/train.jsonl", "lima/lima.json",
           "self_instruct/user_oriented_instructions.jsonl"]


def run(inputs: list[dict]):
    from curate.recipe import Recipe
    from curate.runner import RunResult, Runner
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Recipe(name="lang", inputs=inputs, steps=[{"use": "filter.language", "with": {"languages": ["en"]}}])
        result = RunResult(Runner(recipe, tmp, progress=False).run())
        return result.final().group_by("source").len(), result.manifest["stages"][1]


def main() -> None:
    if not SHARED.is_dir():
        sys.exit(f"needs the shared data at {SHARED}")
    kept, _ = run([{"path": str(SHARED / "xquad" / "*.json"), "source": "{stem}"}])
    kept = {source.split(".")[1]: n / 1190 for source, n in kept.iter_rows()}
    print("XQuAD, share of records kept by languages: [en]")
    print(" ".join(f"{lang:>6}" for lang in LANGS))
    print(" ".join(f"{kept.get(lang, 0):>6.3f}" for lang in LANGS))
    others = sum(kept.get(lang, 0) for lang in LANGS if lang != "en") / (len(LANGS) - 1)
    print(f"English kept {kept.get('en', 0):.4f}; others dropped {1 - others:.4f}\n")
    print("English datasets, share kept")
    for path in ENGLISH:
        _, stage = run([{"path": str(SHARED / path)}])
        print(f"  {path:<48} {stage['kept']:>6,} of {stage['in']:>6,} = {stage['kept'] / stage['in']:.4f}")


if __name__ == "__main__":
    main()
