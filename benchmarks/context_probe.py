"""The context-dependency probe on the recipes/context.yaml mix: how fast, and do its readings agree.

- throughput: records/s of `tag.context_dependency`'s attention probe (hooks on the middle layer,
  forward pass stopped after it) against the reference implementation's way (a full forward pass
  with `output_attentions=True`, every layer's weights materialised), on the same batches (every
  4th of the length-sorted batches, after a warm-up);
- layer agreement: overlap of the top 10% of records between layers (quarter, middle, three
  quarters of the depth), as the paper reports the middle layers agree;
- attention vs loss_gain: Spearman correlation on the records that have a context field;
- the share tagged per source at the default top 15%.

    python benchmarks/context_probe.py [--per-source 100] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
SOURCES = {"alpaca": "llamafactory_demo/alpaca_en_demo.json",
           "adversarial_qa": "p3_t0_templates/adversarial_qa_dbert_answer_the_following_q.jsonl",
           "quoref": "p3_t0_templates/quoref_Answer_Question_Given_Context.jsonl",
           "ropes": "p3_t0_templates/ropes_given_background_situation.jsonl"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-source", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    from curate.quiet import quiet_third_party
    quiet_third_party()
    import numpy as np
    import torch
    from scipy.stats import spearmanr
    from curate.io.load import load_records
    from curate.models.attention_probe import num_layers, user_attention_by_layer
    from curate.models.lm import load_model, load_tokenizer
    from curate.records import to_messages
    from curate.steps.base import Context
    from curate.steps.tag.context_dependency import TagContextDependency, _fit
    import polars as pl
    frames = []
    for source, path in SOURCES.items():
        frames.append(load_records(str(SHARED / path)).head(args.per_source).with_columns(pl.lit(source).alias("source")))
    frame = pl.concat(frames, how="diagonal_relaxed")
    records = frame.to_dicts()
    model_name = "bundled:smollm2-135m-instruct"
    tok = load_tokenizer(model_name)
    model = load_model(model_name, "cpu", attention="eager").eval()
    depth = num_layers(model)
    items = [(k, _fit(tok, to_messages(r), 1024)[0]) for k, r in enumerate(records)]
    items = sorted([(k, it) for k, it in items if it is not None and it.turns and it.user.any()],
                   key=lambda p: len(p[1].ids))
    batches = [items[i:i + args.batch_size] for i in range(0, len(items), args.batch_size)]
    middle = depth // 2
    timed = batches[::4] or batches            # every 4th batch: batches are sorted by length, so a
    user_attention_by_layer(model, tok.pad_token_id, [it for _, it in timed[0]], [middle])   # warm-up
    start = time.perf_counter()                # strided sample covers short and long ones alike
    for batch in timed:
        user_attention_by_layer(model, tok.pad_token_id, [it for _, it in batch], [middle])
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for batch in timed:                        # the reference way, on the same batches
        width = max(len(it.ids) for _, it in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (_, it) in enumerate(batch):
            ids[row, :len(it.ids)] = torch.tensor(it.ids)
            mask[row, :len(it.ids)] = 1
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask, output_attentions=True)
    theirs = time.perf_counter() - start
    timed_records = sum(len(b) for b in timed)
    layers = [depth // 4, middle, (3 * depth) // 4]
    scores = {k: np.full(len(records), np.nan) for k in layers}
    for batch in batches:
        got = user_attention_by_layer(model, tok.pad_token_id, [it for _, it in batch], layers)
        for k in layers:
            for (index, _), turns in zip(batch, got[k]):
                scores[k][index] = turns[-1]
    scored = ~np.isnan(scores[middle])
    top = {k: set(np.argsort(-np.where(scored, scores[k], -np.inf))[: max(1, int(scored.sum() * 0.1))]) for k in layers}
    overlap = {f"{a} vs {b}": round(len(top[a] & top[b]) / len(top[a]), 3)
               for i, a in enumerate(layers) for b in layers[i + 1:]}
    step = TagContextDependency(TagContextDependency.Config(method="loss_gain"), Context())
    gain = step.decide(frame.with_row_index("_order").lazy()).verdicts["score_context_loss_gain"].to_numpy()
    both = scored & ~np.isnan(gain.astype(float))
    rho = spearmanr(scores[middle][both], gain[both].astype(float)).statistic if both.sum() > 2 else None
    cutoff = np.sort(scores[middle][scored])[::-1][max(1, int(round(scored.sum() * 0.15))) - 1]
    share = {s: round(float(np.mean(scores[middle][scored & (frame["source"].to_numpy() == s)] >= cutoff)), 3)
             for s in SOURCES}
    result = {"records": len(records), "scored": int(scored.sum()), "layers": layers, "depth": depth,
              "timed_records": timed_records, "probe_records_per_s": round(timed_records / ours, 2),
              "output_attentions_records_per_s": round(timed_records / theirs, 2), "speedup": round(theirs / ours, 2),
              "top10_overlap": overlap, "spearman_attention_vs_loss_gain": None if rho is None else round(float(rho), 3),
              "records_with_context": int(both.sum()), "tagged_share_top15": share,
              "mean_score_by_source": {s: round(float(np.nanmean(scores[middle][frame["source"].to_numpy() == s])), 4)
                                       for s in SOURCES}}
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "work" / "context_probe.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
