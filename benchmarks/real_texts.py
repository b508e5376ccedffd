"""Real instruction texts from ../shared/data for the embedding and semantic-dedup benchmarks:
instruction (plus context) of every record curate can read there, deduplicated, seeded sample."""

from __future__ import annotations

import random
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SOURCES = ["llamafactory_demo/alpaca_en_demo.json", "lima/lima.json", "self_instruct/*.jsonl", "gsm8k/*.jsonl",
           "chain_of_instructions/train/*.json", "bbh_instruction_format/test_*", "p3_t0_templates/*.jsonl",
           "instruction_induction/raw/induce/*.json", "xquad/xquad.en.json", "llamafactory_demo/dpo_en_demo.json"]


def real_texts(n: int, seed: int = 0, with_response: bool = False, strict: bool = True) -> list[str]:
    """`n` distinct texts (or, with `strict=False`, up to `n`)."""
    from curate.io.sources import InputReader
    from curate.recipe import InputSpec
    from curate.records import user_turn
    if not SHARED.is_dir():
        raise SystemExit(f"needs the shared data at {SHARED}")
    texts: list[str] = []
    for i, pattern in enumerate(SOURCES):
        reader = InputReader(InputSpec(path=str(SHARED / pattern)), i, None, seed, 50_000)
        for frame, _ in reader.batches():
            for row in frame.select("instruction", "context", "response").iter_rows():
                text = user_turn(row[0], row[1])
                texts.append(f"{text}\n{row[2]}" if with_response else text)
    unique = list(dict.fromkeys(t for t in texts if t.strip()))
    random.Random(seed).shuffle(unique)
    if len(unique) < n and strict:
        raise SystemExit(f"only {len(unique)} distinct texts in the shared data, asked for {n}")
    return unique[:n]
