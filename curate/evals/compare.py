"""`curate compare`: train on two datasets at equal cost, evaluate both, and say whether the
difference is real: a 95% bootstrap interval over eval items and training seeds, and a verdict.

The interval resamples items (the same items for both arms: the comparison is paired) and, within
each arm, its seeds; the spread therefore includes both "which questions" and "which training run"
noise. Better / worse only when the whole interval is on one side of zero. Every result also says
what the comparison could have detected (the minimum detectable difference at 80% power), and
trained arms and eval results are reused only when everything that made them is the same
(`identity.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..user_cache import cache_dir
from .identity import arm_key, data_identity, eval_key, model_identity, suite_identity


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
    mde = detectable(float(diffs.std(ddof=1)))
    return {"baseline": float(baseline.mean()), "treatment": float(treatment.mean()), "diff": diff,
            "low": float(lo), "high": float(hi), "level": level, "verdict": verdict,
            "seeds": [int(baseline.shape[0]), int(treatment.shape[0])], "items": int(n_items),
            "detectable": round(mde, 4)}


Z_95, Z_80 = 1.959964, 0.841621      # two-sided 5% test; 80% power


def detectable(standard_error: float) -> float:
    """The smallest true difference this comparison finds with 80% power at the 5% level: (z_0.975 +
    z_0.8) standard errors of the difference, the standard error read off the bootstrap."""
    return (Z_95 + Z_80) * standard_error


def items_needed(result: dict, target: float) -> int:
    """About how many eval items would make `target` detectable, if the spread is mostly between
    items (it falls as 1/sqrt(items)); seed-to-seed spread does not fall with more items."""
    if result["detectable"] <= 0:
        return result["items"]
    return int(np.ceil(result["items"] * (result["detectable"] / target) ** 2))


def power_note(result: dict) -> str:
    """One plain sentence on what this comparison could have found."""
    mde = result["detectable"]
    if mde == 0:
        return "the scores did not vary between items or seeds, so no difference could be measured"
    if result["verdict"] != "inconclusive":
        return f"it could detect differences of {mde:.3f} or more"
    half = mde / 2
    return (f"it can only detect differences of {mde:.3f} or more; to see {half:.3f}, use about "
            f"{items_needed(result, half):,} items")


def scores_matrix(eval_dirs: list[Path], column: str = "score") -> tuple[np.ndarray, list[str]]:
    """(seeds, items) scores from `curate eval` folders of one arm, aligned by item id."""
    import polars as pl
    frames = [pl.read_parquet(Path(d) / "predictions.parquet").sort("id") for d in eval_dirs]
    ids = frames[0]["id"].to_list()
    for f in frames[1:]:
        if f["id"].to_list() != ids:
            raise ValueError("eval folders of one comparison must cover the same items")
    return np.stack([f[column].to_numpy() for f in frames]), ids


def metrics_of(eval_dir: Path, suite: str) -> list[tuple[str, str, bool]]:
    """(report name, predictions column, lower is better) for each metric a suite's results carry:
    the score, and for `choice` suites also the continuous margin."""
    import polars as pl
    summary = json.loads((Path(eval_dir) / "summary.json").read_text())
    lower = bool(summary.get("lower_is_better"))
    metrics = [(suite + (" (loss, lower is better)" if lower else ""), "score", lower)]
    if "margin" in pl.read_parquet_schema(Path(eval_dir) / "predictions.parquet"):
        metrics.append((f"{suite} (margin)", "margin", False))
    return metrics


def oriented(result: dict, lower_is_better: bool) -> dict:
    """A loss that fell is "better": the verdict follows the metric's direction."""
    if lower_is_better and result["verdict"] != "inconclusive":
        result["verdict"] = "better" if result["verdict"] == "worse" else "worse"
    return result


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
    lines = [f"# {title}", "", "| metric | items | baseline | treatment | difference | 95% interval | verdict "
             "| detectable (80% power) |", "|---|---:|---:|---:|---:|---|---|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['items']} | {r['baseline']:.4f} | {r['treatment']:.4f} | {r['diff']:+.4f} | "
                     f"[{r['low']:+.4f}, {r['high']:+.4f}] | **{r['verdict']}** | {r['detectable']:.4f} |")
    lines += [""] + [f"- {name}: {power_note(r)}." for name, r in results.items()]
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


def _link(source: Path, link: Path) -> None:
    """`link` (in the --out folder) points at a result in the cache; an old folder or link there,
    from a run with other settings, is replaced, never reused."""
    import shutil
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.symlink_to(source.resolve(), target_is_directory=True)


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
    store = cache_dir() / "compare"
    keys: dict[str, dict] = {}
    data_ids = {"baseline": data_identity(baseline), "treatment": data_identity(treatment)}
    model_id = model_identity(model)
    suite_ids = {suite: suite_identity(suite) for suite in suites}
    from ..progress import Progress
    notes = Progress(enabled=progress)
    for arm, data in (("baseline", baseline), ("treatment", treatment)):
        for seed in range(seeds):
            run = out / arm / f"seed-{seed}"
            cfg = TrainConfig(data=data, model=model, out="-", seed=seed, max_tokens=budget, epochs=100.0, **options)
            trained_key = arm_key(data_ids[arm], model_id, cfg.model_dump(mode="json", exclude={"data", "out"}))
            trained = store / "train" / trained_key
            if (trained / "summary.json").is_file():
                notes.note(f"compare: {arm}, seed {seed}: reusing the adapter trained with the same data and settings")
            else:
                notes.note(f"compare: {arm}, seed {seed} of {seeds}: training")
                Trainer(cfg.model_copy(update={"out": str(trained)}), progress=progress).run()
            _link(trained, run / "train")
            keys[f"{arm}/seed-{seed}"] = {"train": trained_key}
            for suite in suites:
                n = limit.get(suite) if isinstance(limit, dict) else limit
                scored_key = eval_key(trained_key, suite_ids[suite], n, batch_size)
                scored = store / "eval" / scored_key
                if not (scored / "summary.json").is_file():
                    evaluate(model, suite, scored, adapter=str(trained / "adapter"), limit=n, batch_size=batch_size,
                             progress=progress)
                target = run / suite_dirname(suite)
                _link(scored, target)
                keys[f"{arm}/seed-{seed}"][suite] = scored_key
                evals[suite][arm].append(target)
    results = {}
    for suite, arms in evals.items():
        for name, column, lower in metrics_of(arms["baseline"][0], suite):
            b, _ = scores_matrix(arms["baseline"], column)
            t, _ = scores_matrix(arms["treatment"], column)
            results[name] = oriented(bootstrap_diff(b, t), lower)
    results_meta = {"budget_tokens": budget, "model": model, "baseline": baseline, "treatment": treatment,
                    "results": keys, "store": str(store)}
    (out / "compare_setup.json").write_text(json.dumps(results_meta, indent=2))
    write_report(results, out, f"{Path(treatment).name} vs {Path(baseline).name} on {model}, {budget:,} tokens each")
    return results
