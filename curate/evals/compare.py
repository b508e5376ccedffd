"""`curate compare`: train on two datasets at equal cost, evaluate both, and say whether the
difference is real: a 95% bootstrap interval over eval items and training seeds, and a verdict.

The interval resamples items (the same items for both arms: the comparison is paired) and, within
each arm, its seeds; the spread therefore includes both "which questions" and "which training run"
noise. Better / worse only when the whole interval is on one side of zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def bootstrap_diff(baseline: np.ndarray, treatment: np.ndarray, rounds: int = 2000, seed: int = 0,
                   level: float = 0.95) -> dict:
    """`baseline`, `treatment`: (seeds, items) score matrices over the same items. Mean difference
    (treatment - baseline), its interval, and the verdict."""
    baseline, treatment = np.atleast_2d(baseline), np.atleast_2d(treatment)
    if baseline.shape[1] != treatment.shape[1]:
        raise ValueError("both arms must be scored on the same items")
    rng = np.random.default_rng(seed)
    n_items = baseline.shape[1]
    diffs = np.empty(rounds)
    for k in range(rounds):
        items = rng.integers(0, n_items, n_items)
        sb = rng.integers(0, baseline.shape[0], baseline.shape[0])
        st = rng.integers(0, treatment.shape[0], treatment.shape[0])
        diffs[k] = treatment[np.ix_(st, items)].mean() - baseline[np.ix_(sb, items)].mean()
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    diff = float(treatment.mean() - baseline.mean())
    verdict = "better" if lo > 0 else "worse" if hi < 0 else "inconclusive"
    return {"baseline": float(baseline.mean()), "treatment": float(treatment.mean()), "diff": diff,
            "low": float(lo), "high": float(hi), "level": level, "verdict": verdict,
            "seeds": [int(baseline.shape[0]), int(treatment.shape[0])], "items": int(n_items)}


def scores_matrix(eval_dirs: list[Path]) -> tuple[np.ndarray, list[str]]:
    """(seeds, items) scores from `curate eval` folders of one arm, aligned by item id."""
    import polars as pl
    frames = [pl.read_parquet(Path(d) / "predictions.parquet").sort("id") for d in eval_dirs]
    ids = frames[0]["id"].to_list()
    for f in frames[1:]:
        if f["id"].to_list() != ids:
            raise ValueError("eval folders of one comparison must cover the same items")
    return np.stack([f["score"].to_numpy() for f in frames]), ids


def plot_comparison(results: dict[str, dict], out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(results)
    diffs = [results[n]["diff"] for n in names]
    err = [[results[n]["diff"] - results[n]["low"] for n in names], [results[n]["high"] - results[n]["diff"] for n in names]]
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(names) + 1.5))
    ax.errorbar(diffs, range(len(names)), xerr=err, fmt="o", capsize=4)
    ax.axvline(0, color="grey", linestyle="--")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("treatment − baseline (95% bootstrap interval)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def write_report(results: dict[str, dict], out: Path, title: str) -> Path:
    lines = [f"# {title}", "", "| metric | items | baseline | treatment | difference | 95% interval | verdict |",
             "|---|---:|---:|---:|---:|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['items']} | {r['baseline']:.4f} | {r['treatment']:.4f} | {r['diff']:+.4f} | "
                     f"[{r['low']:+.4f}, {r['high']:+.4f}] | **{r['verdict']}** |")
    first = next(iter(results.values()))
    lines += ["", f"Seeds: baseline {first['seeds'][0]}, treatment {first['seeds'][1]}. "
              "Interval: percentile bootstrap resampling items (paired) and seeds (per arm), 2,000 rounds.",
              "", "![difference with interval](compare.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    (out / "compare.json").write_text(json.dumps(results, indent=2))
    plot_comparison(results, out / "compare.png")
    return path


def equal_budget(datas: list[str], model: str, max_len: int) -> int:
    """The token budget both arms can afford: the smaller dataset's packed tokens for one epoch."""
    from ..models.lm import load_tokenizer
    from ..train.config import TrainConfig
    from ..train.loop import load_training_records, make_plan
    tokenizer = load_tokenizer(model)
    totals = []
    for data in datas:
        cfg = TrainConfig(data=data, model=model, out="-", max_len=max_len)
        totals.append(make_plan(cfg, tokenizer, load_training_records(data, None)).tokens)
    return min(totals)


def compare(baseline: str, treatment: str, suites: list[str], out: str | Path, model: str, seeds: int = 3,
            max_tokens: int | None = None, limit: int | dict[str, int] | None = None,
            train_options: dict | None = None, progress: bool = True, batch_size: int = 16) -> dict:
    """Train both arms on `seeds` seeds at the same token budget, evaluate on every suite, report.
    `limit`: items per group for every suite, or a {suite: limit} dict."""
    from ..train.config import TrainConfig
    from ..train.loop import Trainer
    from .run import evaluate
    from .suites import suite_dirname
    out = Path(out)
    options = dict(train_options or {})
    max_len = options.get("max_len", 1024)
    budget = max_tokens or equal_budget([baseline, treatment], model, max_len)
    evals: dict[str, dict[str, list[Path]]] = {s: {"baseline": [], "treatment": []} for s in suites}
    for arm, data in (("baseline", baseline), ("treatment", treatment)):
        for seed in range(seeds):
            run = out / arm / f"seed-{seed}"
            if progress:
                from ..progress import Progress
                Progress().note(f"compare: {arm}, seed {seed} of {seeds}")
            if not (run / "train" / "summary.json").is_file():
                Trainer(TrainConfig(data=data, model=model, out=str(run / "train"), seed=seed, max_tokens=budget,
                                    epochs=100.0, **options), progress=progress).run()
            for suite in suites:
                target = run / suite_dirname(suite)
                if not (target / "summary.json").is_file():
                    evaluate(model, suite, target, adapter=str(run / "train" / "adapter"),
                             limit=limit.get(suite) if isinstance(limit, dict) else limit, batch_size=batch_size,
                             progress=progress)
                evals[suite][arm].append(target)
    results = {}
    for suite, arms in evals.items():
        b, _ = scores_matrix(arms["baseline"])
        t, _ = scores_matrix(arms["treatment"])
        results[suite] = bootstrap_diff(b, t)
    results_meta = {"budget_tokens": budget, "model": model, "baseline": baseline, "treatment": treatment}
    (out / "compare_setup.json").write_text(json.dumps(results_meta, indent=2))
    write_report(results, out, f"{Path(treatment).name} vs {Path(baseline).name} on {model}, {budget:,} tokens each")
    return results
