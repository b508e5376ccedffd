"""Benchmark: `dedup.near` (MinHash-LSH) against datatrove's MinHash pipeline and Data-Juicer's
`document_minhash_deduplicator`, same shingles, permutations, bands and threshold, one run.

Documents: real instruction + response texts from ../shared/data (at least 10 words each), plus
planted near duplicates of random documents (case changed, punctuation changed, a word replaced,
a word dropped, or a short sentence appended). Settings on all three sides: word 5-grams of the
lowercased text without punctuation, 112 permutations as 14 bands of 8 rows (datatrove's
defaults), no candidate verification (neither peer verifies), keep the first document of a group.
Each tool runs as its own process from a JSONL file to its output, timed with peak RSS.

Agreement: the documents each tool removes, compared as sets (|A ∩ B| / |A ∪ B|), and the share of
planted duplicate pairs (copy, original) on which two tools make the same decision; the two peers
are also compared with each other, for scale. Outputs are checked complete (every kept id is an
input id) before comparing.

    python benchmarks/near_dedup.py [--n 100000] [--planted 10000] [--peers /work/peers] [--skip dt,dj]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from measure import measure  # noqa: E402
from real_texts import real_texts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work" / "near_dedup"


def perturb(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    kind = rng.randrange(5)
    if kind == 0:
        return text.upper()
    if kind == 1:
        return re.sub(r"[.,;:!?]", lambda m: rng.choice([",", ".", "!", ""]), text)
    if kind == 2 and len(words) > 12:
        i = rng.randrange(len(words))
        words[i] = rng.choice(["really", "quite", "very", "indeed", "also"])
        return " ".join(words)
    if kind == 3 and len(words) > 12:
        del words[rng.randrange(len(words))]
        return " ".join(words)
    return text + " Thanks!"


def build(n: int, planted: int, seed: int = 0) -> tuple[Path, dict[int, int]]:
    """docs.jsonl with n documents, the last `planted` of them near copies; {copy id: original id}."""
    rng = random.Random(seed)
    base = [t for t in real_texts(int((n - planted) * 1.6), seed=seed, with_response=True, strict=False)
            if len(t.split()) >= 10][: n - planted]
    if len(base) < n - planted:
        raise SystemExit(f"only {len(base)} real documents of 10+ words")
    originals = {}
    docs = list(base)
    for k in range(planted):
        src = rng.randrange(len(base))
        originals[len(docs)] = src
        docs.append(perturb(base[src], rng))
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "docs.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in enumerate(docs):
            fh.write(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n")
    return path, originals


def curate_recipe(src: Path, verify: bool) -> Path:
    recipe = {
        "name": f"near-dedup-bench-{'verify' if verify else 'noverify'}",
        "inputs": [{"path": str(src), "format": "custom", "fields": {"instruction": "text", "response": None},
                    "keep": ["id"]}],
        "steps": [{"use": "dedup.near", "with": {
            "fields": ["instruction"], "unit": "words", "shingle_size": 5, "num_perm": 112, "bands": 14,
            "rows": 8, "threshold": 0.7, "verify": verify, "keep": "first"}}],
        "output": {"dir": str(WORK / "runs")},
    }
    path = WORK / f"recipe-{recipe['name']}.json"
    path.write_text(json.dumps(recipe))
    return path


def removed_ids(tool: str, out: Path, n: int) -> set[int]:
    """Documents a tool removed, after checking its output is complete."""
    if tool.startswith("curate"):
        import polars as pl
        run = max((p for p in out.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        kept = pl.read_parquet(run / "final.parquet")["origin"]
        kept_ids = {int(o.rsplit(":", 1)[1]) - 1 for o in kept.to_list()}
    else:
        kept_ids = set()
        files = [out / "out.jsonl"] if tool == "data-juicer" else sorted((out / "out").glob("*.jsonl*"))
        for f in files:
            opener = __import__("gzip").open if f.suffix == ".gz" else open
            with opener(f, "rt", encoding="utf-8") as fh:
                for line in fh:
                    kept_ids.add(int(json.loads(line)["id"]))
    return set(range(n)) - kept_ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--planted", type=int, default=10_000)
    ap.add_argument("--peers", default=str(ROOT / "benchmarks/work/peers"))
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    src, originals = build(args.n, args.planted)
    print(f"{args.n} documents ({args.planted} planted near copies) in {src}")
    curate = str(Path(sys.executable).parent / "curate")
    results, removed = {}, {}
    for verify in (False, True):
        name = f"curate (verify={'on' if verify else 'off'})"
        results[name] = measure([curate, "run", str(curate_recipe(src, verify)), "--fresh", "-q"],
                                log=str(WORK / f"{name.split()[0]}-{verify}.log"))
        removed[name] = removed_ids(name, WORK / "runs", args.n)
    peers = Path(args.peers)
    skip = set(args.skip.split(","))
    if "dt" not in skip:
        out = WORK / "dt"
        results["datatrove"] = measure([str(peers / "dt/bin/python"), str(ROOT / "benchmarks/peers/datatrove_minhash.py"),
                                        str(src), str(out)], log=str(WORK / "dt.log"))
        removed["datatrove"] = removed_ids("datatrove", out, args.n)
    if "dj" not in skip:
        out = WORK / "dj"
        results["data-juicer"] = measure([str(peers / "dj/bin/python"), str(ROOT / "benchmarks/peers/data_juicer_minhash.py"),
                                          str(src), str(out)], log=str(WORK / "dj.log"))
        removed["data-juicer"] = removed_ids("data-juicer", out, args.n)
    planted_pairs = set(originals)
    for name, r in results.items():
        r["docs_per_s"] = args.n / r["seconds"]
        r["removed"] = len(removed[name])
        r["planted_found"] = len(planted_pairs & removed[name]) / len(planted_pairs)
    ref = "curate (verify=off)"
    peer_names = [k for k in results if not k.startswith("curate") and results[k]["exit"] == 0]
    best = max(peer_names, key=lambda k: results[k]["docs_per_s"]) if peer_names else None
    print(f"{'tool':<22} {'s':>8} {'docs/s':>8} {'RSS GiB':>8} {'removed':>8} {'planted found':>14}")
    for name, r in results.items():
        print(f"{name:<22} {r['seconds']:>8.1f} {r['docs_per_s']:>8.0f} {r['peak_rss_gib']:>8.2f} {r['removed']:>8} "
              f"{r['planted_found']:>14.3f}")
    def agreement(x: str, y: str) -> None:
        a, b = removed[x], removed[y]
        both = len(a & b) / max(1, len(a | b))
        same = sum((c in a) == (c in b) for c in planted_pairs) / len(planted_pairs)
        print(f"{x} vs {y}: removed sets {both:.3f} (|A&B| {len(a & b)}, only {x} {len(a - b)}, only {y} "
              f"{len(b - a)}); same decision on the planted duplicate pairs {same:.3f}")
        results[x][f"removed_set_agreement_{y}"] = both
        results[x][f"planted_pair_agreement_{y}"] = same

    for peer in peer_names:
        agreement(ref, peer)
    if len(peer_names) == 2:
        agreement(*peer_names)                      # how much the two peers agree with each other
    if best:
        print(f"curate is {results[ref]['docs_per_s'] / results[best]['docs_per_s']:.1f}x {best} ({ref})")
    (WORK / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
