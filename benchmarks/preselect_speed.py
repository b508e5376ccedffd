"""What PreSelect costs, and why the classifier exists: seconds to score a real pool with one probe
model (bits per character, forward only, the step's own code) against scoring it with the fastText
classifier `select.preselect` trains (the issue's target: ≥ 50k records/s on this CPU).

The pool is real instruction data from ../shared/data (P3 prompted tasks, Alpaca, LIMA, GSM8K, as
recipes/preselect.yaml reads it). The probe is timed on a sample (`--probe-records`) and its rate
extrapolated to the pool; the classifier is trained on a labelled sample of the pool (the step's
settings: 3 epochs, lr 0.1, bigrams) and times scoring every record.

    python benchmarks/preselect_speed.py [--probe-records 200] [--model bundled:smollm2-135m-instruct]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
POOL = [("p3_t0_templates/*.jsonl", "p3"), ("llamafactory_demo/alpaca_en_demo.json", "alpaca"),
        ("lima/lima.json", "lima"), ("gsm8k/train.jsonl", "gsm8k")]


def pool_texts() -> tuple[list[str], list[str], list[str], list[str]]:
    """(ids, the classifier's one-line text, the probe's text, source) of every pool record."""
    import polars as pl
    from curate.io.load import load_records
    from curate.steps.common.text import field_text
    from curate.steps.score.fasttext import classifier_text
    frames = [load_records(str(SHARED / path)).with_columns(pl.lit(name).alias("source")) for path, name in POOL]
    frame = pl.concat(frames, how="diagonal_relaxed")
    cols = frame.select(pl.col("id"), classifier_text(["instruction", "context", "response"]).alias("c"),
                        field_text("text").fill_null("").alias("t"), pl.col("source"))
    return cols["id"].to_list(), cols["c"].to_list(), cols["t"].to_list(), cols["source"].to_list()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe-records", type=int, default=200)
    ap.add_argument("--model", default="bundled:smollm2-135m-instruct")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from curate.quiet import quiet_third_party
    quiet_third_party()
    import numpy as np
    from curate.models.fasttext_model import load, predict_all, predict_many, train_rows
    from curate.models.lm import load_tokenizer, resolve
    from curate.steps.score.predictive_strength import Probe, ScorePredictiveStrength, _probe_bpc
    ids, lines, texts, sources = pool_texts()
    n = len(ids)
    chars = sum(map(len, texts))
    print(f"pool: {n:,} records, {chars / 1e6:.1f}M characters (P3, Alpaca, LIMA, GSM8K)")

    rng = np.random.default_rng(0)
    probe_rate = None
    if args.probe_records:
        sample = rng.choice(n, size=min(args.probe_records, n), replace=False)
        cfg = ScorePredictiveStrength.Config(probes=[{"model": args.model, "score": float(k), "name": f"p{k}"}
                                                     for k in range(5)])
        tokenizer = load_tokenizer(args.model)
        tokens = sum(min(len(tokenizer(texts[k], add_special_tokens=False)["input_ids"]), cfg.max_tokens) for k in sample)
        folder = resolve(args.model)             # the plain local copy (made once), as the step loads it
        with tempfile.TemporaryDirectory() as cache:
            os.environ["CURATE_CACHE"] = cache                    # nothing cached: time the forward passes
            started = time.perf_counter()
            bpc = _probe_bpc(Probe(model=folder, score=0.0), [ids[k] for k in sample], [texts[k] for k in sample], cfg)
            probe_s = time.perf_counter() - started
        assert np.isfinite(bpc).all()
        probe_rate = len(sample) / probe_s
        print(f"probe {args.model}: {len(sample)} records, {tokens:,} tokens in {probe_s:.1f} s (model load included): "
              f"{probe_rate:.1f} records/s, {tokens / probe_s:,.0f} tokens/s")

    labelled = rng.choice(n, size=min(4000, n), replace=False)
    rows = [f"__label__{'pos' if sources[k] != 'p3' else 'neg'} {lines[k]}" for k in labelled]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preselect.bin"
        report = train_rows(rows, path, 0.1, 3, 0.1, 2, 64, 0)
        model = load(path)
        shapes = {"the whole pool": lines,
                  "short records (Alpaca, GSM8K)": [x for x, src in zip(lines, sources) if src in ("alpaca", "gsm8k")]}
        print(f"fastText classifier (trained on {report['train']:,} rows, held-out precision "
              f"{report.get('valid_precision_at_1')}), best of {args.repeats}:")
        rates = {}
        for shape, some in shapes.items():
            best = {"one process": float("inf"), f"{os.cpu_count()} worker processes": float("inf")}
            for _ in range(args.repeats):
                for way in best:
                    started = time.perf_counter()
                    probability = predict_all(model, some)["pos"] if way == "one process" else \
                        predict_many(path, some)["pos"]
                    best[way] = min(best[way], time.perf_counter() - started)
                    assert len(probability) == len(some)
            for way, seconds in best.items():
                print(f"  {shape:<30} {len(some):>7,} records, {way:<20} {seconds:6.2f} s "
                      f"{len(some) / seconds:>9,.0f} records/s")
            rates[shape] = len(some) / min(best.values())
    rate = rates["the whole pool"]
    best = n / rate
    if probe_rate:
        print(f"per record, the classifier is {rate / probe_rate:,.0f}x cheaper than one probe; scoring the whole "
              f"pool with 5 probes would take {5 * n / probe_rate / 3600:.1f} h here, the classifier {best:.1f} s")


if __name__ == "__main__":
    os.environ.setdefault("CURATE_DATA", str(SHARED))
    main()
