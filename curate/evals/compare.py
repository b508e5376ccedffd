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

from .identity import data_identity, model_identity
from .power import bootstrap_diff, power_note


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


def plot_comparison(results: dict[str, dict], out: Path,
                    xlabel: str = "treatment − baseline (95% bootstrap interval)", title: str = "") -> Path:
    """A forest plot: each result's difference with its interval, the first on top."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(results)
    labels = [n if len(n) <= 60 else "…" + n[-59:] for n in names]     # a suite file's path
    diffs = [results[n]["diff"] for n in names]
    err = [[results[n]["diff"] - results[n]["low"] for n in names], [results[n]["high"] - results[n]["diff"] for n in names]]
    fig, ax = plt.subplots(figsize=(5 + 0.07 * max(map(len, labels), default=0), 0.45 * len(names) + 1.5))
    ax.errorbar(diffs, range(len(names)), xerr=err, fmt="o", capsize=4)
    ax.axvline(0, color="grey", linestyle="--")
    ax.set_yticks(range(len(names)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def write_report(results: dict[str, dict], out: Path, title: str, items_auto: dict | None = None) -> Path:
    lines = [f"# {title}", "", "| metric | items | baseline | treatment | difference | 95% interval | verdict "
             "| detectable (80% power) |", "|---|---:|---:|---:|---:|---|---|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['items']} | {r['baseline']:.4f} | {r['treatment']:.4f} | {r['diff']:+.4f} | "
                     f"[{r['low']:+.4f}, {r['high']:+.4f}] | **{r['verdict']}** | {r['detectable']:.4f} |")
    lines += [""] + [f"- {name}: {power_note(r)}." for name, r in results.items()]
    if items_auto:
        lines += ["", "Items chosen by `--items auto`:"] + [f"- {name}: {c['items_per_group']} per group; {c['why']}."
                                                           for name, c in items_auto.items()]
    first = next(iter(results.values()))
    lines += ["", f"Seeds: baseline {first['seeds'][0]}, treatment {first['seeds'][1]}. "
              "Interval: percentile bootstrap resampling items and seeds, both paired across the arms (seeds per arm "
              "where the arms have different seeds), 2,000 rounds.",
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


def link_cached(source: Path, link: Path) -> None:
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
            max_tokens: int | None = None, limit: int | dict[str, int] | str | None = None,
            train_options: dict | None = None, progress: bool = True, batch_size: int = 16,
            harness: list[str] | None = None, tasks_dir: str | None = None, detect: float = 0.02,
            items_cap: int = 2000, pilot: int = 10, system: str | None = None) -> dict:
    """Train both arms on `seeds` seeds at the same token budget, evaluate on every suite (and
    lm-eval `harness` task, with `system` as its system prompt), report. `limit`: items per group
    for every suite, a {suite: limit} dict, or "auto": per suite, a pilot on the first `pilot`
    items per group, then as many items as make `detect` detectable (`power.items_for_target`),
    at most `items_cap`."""
    from ..progress import Progress
    from . import cached_runs
    from .measures import measures as make_measures
    out = Path(out)
    todo = make_measures(suites, list(harness or []), tasks_dir, system)
    identities = [m.identity() for m in todo]           # a missing suite file fails before any training
    notes = Progress(enabled=progress)
    arms = _train_arms(baseline, treatment, out, model, seeds, max_tokens, train_options, progress, notes)
    results, chosen = {}, {}
    for measure, identity in zip(todo, identities):
        n = limit.get(measure.name) if isinstance(limit, dict) else limit
        if n == "auto":
            from .power import items_for_target
            pilot_dirs = _evaluate_arms(measure, identity, pilot, arms, model, batch_size, progress)
            first = _paired(measure, pilot_dirs)[0][1]
            n, why = items_for_target(first, detect, pilot, items_cap)
            chosen[measure.name] = {"items_per_group": n, "why": why}
            notes.note(f"compare: {measure.name}: {why}; evaluating {n} items per group")
        dirs = _evaluate_arms(measure, identity, n, arms, model, batch_size, progress)
        results.update(_paired(measure, dirs))
    setup = {"budget_tokens": arms["budget"], "model": model, "baseline": baseline, "treatment": treatment,
             "results": arms["keys"], "store": str(cached_runs.store()), **({"items_auto": chosen} if chosen else {})}
    (out / "compare_setup.json").write_text(json.dumps(setup, indent=2))
    write_report(results, out, f"{Path(treatment).name} vs {Path(baseline).name} on {model}, "
                               f"{arms['budget']:,} tokens each", chosen)
    return results


def _train_arms(baseline, treatment, out: Path, model: str, seeds: int, max_tokens, train_options, progress,
                notes) -> dict:
    """Each arm's adapters, trained at one token budget or reused from the cache when the data,
    model, settings and seed are all the same."""
    from ..train.config import TrainConfig
    from .cached_runs import trained
    options = dict(train_options or {})
    budget = max_tokens or equal_budget([baseline, treatment], model, options.get("max_len", 1024))
    model_id = model_identity(model)
    arms: dict = {"budget": budget, "keys": {}, "runs": {}}
    for arm, data in (("baseline", baseline), ("treatment", treatment)):
        data_id = data_identity(data)
        for seed in range(seeds):
            run = out / arm / f"seed-{seed}"
            cfg = TrainConfig(data=data, model=model, out="-", seed=seed, max_tokens=budget, epochs=100.0, **options)
            folder, key = trained(cfg, data_id, model_id, progress, notes, f"compare: {arm}, seed {seed} of {seeds}")
            link_cached(folder, run / "train")
            arms["keys"][f"{arm}/seed-{seed}"] = {"train": key}
            arms["runs"].setdefault(arm, []).append((run, folder, key))
    return arms


def _evaluate_arms(measure, identity: list, n, arms: dict, model: str, batch_size: int,
                   progress: bool) -> dict[str, list[Path]]:
    """Every adapter on `measure` (first `n` items per group), each result reused from the cache
    only when the arm, the measure's identity, the limit and the batch size all match."""
    from .cached_runs import evaluated
    from .suites import suite_dirname
    dirs: dict[str, list[Path]] = {}
    for arm, runs in arms["runs"].items():
        for run, folder, trained_key in runs:
            result, key = evaluated(measure, identity, trained_key, folder, model, n, batch_size, progress)
            target = run / suite_dirname(measure.name)
            link_cached(result, target)
            arms["keys"][f"{arm}/{run.name}"][measure.name] = key
            dirs.setdefault(arm, []).append(target)
    return dirs


def _paired(measure, dirs: dict[str, list[Path]]) -> list[tuple[str, dict]]:
    """The paired bootstrap of treatment against baseline for each metric the results carry: items
    paired, and seeds paired when both arms have the same seeds (seed k of each arm starts from the
    same LoRA initialisation and reads shared records in the same keyed order)."""
    out = []
    for name, column, lower in metrics_of(dirs["baseline"][0], measure.name):
        b, _ = scores_matrix(dirs["baseline"], column)
        t, _ = scores_matrix(dirs["treatment"], column)
        out.append((name, oriented(bootstrap_diff(b, t, paired_seeds=b.shape == t.shape), lower)))
    return out
