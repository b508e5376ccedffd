"""Generate N instruction records (~1 KB each) for the core pipeline benchmark.

Writes two files with the same content: records.jsonl (Alpaca fields, what curate reads) and
records_text.jsonl ({"id", "text"} with the fields joined, what datatrove and Data-Juicer read).
About 8% are exact copies, 2% copies differing in case and spacing, 3% have a too-short
response, 5% carry mojibake or non-ASCII text; a few mention "lorem ipsum" (the SQL filter's target).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

WORDS = ("the of and to in is for on that with as by this be are from at or it an was which can use model data "
         "we each they more time when also how people first new city river number answer question system water "
         "energy plant world light value result method language history music science market policy team game "
         "simple example process small large different important between during without through across "
         "because however therefore usually often rarely quickly carefully explain describe compare list").split()
ACCENTED = ["café", "naïve", "résumé", "crème brûlée", "jalapeño", "cafÃ©", "itâ€™s", "Zürich", "façade"]


def sentences(rng: np.random.Generator, n: int) -> list[str]:
    lengths = rng.integers(8, 20, n)
    idx = rng.integers(0, len(WORDS), lengths.sum())
    out, pos = [], 0
    for k in lengths:
        words = [WORDS[i] for i in idx[pos:pos + k]]
        pos += k
        out.append(" ".join(words).capitalize() + ".")
    return out


def main(n: int, out_dir: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    pool = sentences(rng, 50_000)
    out_dir.mkdir(parents=True, exist_ok=True)
    kinds = rng.random(n)
    picks = rng.integers(0, len(pool), (n, 12))
    made: list[tuple[str, str, str]] = []
    with open(out_dir / "records.jsonl", "w") as fa, open(out_dir / "records_text.jsonl", "w") as ft:
        for i in range(n):
            p = picks[i]
            k = kinds[i]
            if k < 0.08 and made:
                ins, inp, out = made[int(rng.integers(0, len(made)))]
            elif k < 0.10 and made:
                ins, inp, out = made[int(rng.integers(0, len(made)))]
                ins = "  " + ins.upper()
            else:
                ins = f"{pool[p[0]][:-1]}?"
                inp = " ".join(pool[j] for j in p[1:4]) if k < 0.55 else ""
                out = " ".join(pool[j] for j in p[4:12])
                if k > 0.97:
                    out = "Yes."
                elif 0.90 < k < 0.95:
                    out = f"{ACCENTED[i % len(ACCENTED)]} — {out}"
                elif 0.899 < k < 0.9:
                    ins = "Lorem ipsum " + ins
                if len(made) < 200_000:
                    made.append((ins, inp, out))
            fa.write(json.dumps({"instruction": ins, "input": inp, "output": out}, ensure_ascii=False) + "\n")
            ft.write(json.dumps({"id": str(i), "text": "\n".join(x for x in (ins, inp, out) if x)},
                                ensure_ascii=False) + "\n")


def records_with(n: int, out: Path, change) -> Path:
    """`n` of these records (generated once into benchmarks/work/n{n}), each passed through
    `change(k, record, rng)` (which adds a field), written to `out` once."""
    if out.is_file():
        return out
    data = Path(__file__).resolve().parent / "work" / f"n{n}"
    if not (data / "records.jsonl").is_file():
        main(n, data)
    import orjson
    rng = np.random.default_rng(0)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(data / "records.jsonl", "rb") as src, open(out, "wb") as dst:
        for k, line in enumerate(src):
            record = orjson.loads(line)
            change(k, record, rng)
            dst.write(orjson.dumps(record) + b"\n")
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
