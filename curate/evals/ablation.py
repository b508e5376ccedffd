"""`curate ablate RECIPE`: which step of a recipe helps the model?

The recipe as given is trained and evaluated against the recipe with each step switched off in turn
(`ablation_plan`: how each kind of step is switched off), and optionally against each prefix of the
recipe, all at one token budget and the same seeds. A step's effect is (full recipe) − (recipe
without it), so a positive effect on a higher-is-better metric means the step helps; each comes with
the paired bootstrap interval over eval items and seeds and the minimum detectable difference
(`power.py`), because "inconclusive" means nothing without what the comparison could have seen.

Nothing is computed twice: stages the variants share with the full run are reused by fingerprint,
adapters and eval results come from the fingerprinted cache `curate compare` uses
(`cached_runs`), and a variant whose training examples equal another's trains once. The setup file
says how much was reused and how long each phase took.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import ConfigError
from .ablation_plan import Plan, Variant, plan as make_plan
from .compare import link_cached, metrics_of, oriented, plot_comparison, scores_matrix
from .identity import arm_key, data_identity, eval_key, model_identity, train_settings
from .power import bootstrap_diff, power_note

VERDICTS = {"better": "helps", "worse": "hurts", "inconclusive": "inconclusive"}


def train_options(recipe, model: str | None, lr: float | None, max_len: int | None) -> dict:
    """The recipe's own `train:` settings (minus its budget), overridden by the command's."""
    options = {k: v for k, v in (recipe.train or {}).items() if k not in ("max_tokens", "epochs")}
    for key, value in (("model", model), ("lr", lr), ("max_len", max_len)):
        if value is not None:
            options[key] = value
    options.setdefault("model", (recipe.eval or {}).get("model") or "bundled:smollm2-135m-instruct")
    return options


def ablate(recipe, out: str | Path, suites: list[str] | None = None, seeds: int = 3, max_tokens: int | None = None,
           limit: int | None = None, prefixes: bool = False, model: str | None = None, lr: float | None = None,
           max_len: int | None = None, batch_size: int = 16, progress: bool = True) -> dict:
    from ..progress import Progress
    from .measures import measures as make_measures
    out = Path(out)
    suites = list(suites or (recipe.eval or {}).get("suites") or [])
    if not suites:
        raise ConfigError("give --suite (or an eval: block with suites in the recipe): the variants are compared on it")
    limit = limit if limit is not None else (recipe.eval or {}).get("limit")
    todo = make_measures(suites, [], None)
    identities = [m.identity() for m in todo]           # a missing suite file fails before any work
    options = train_options(recipe, model, lr, max_len)
    notes = Progress(enabled=progress)
    clock = {"started": time.time()}
    variants = make_plan(recipe, out, prefixes, progress, notes)
    clock["curate_s"] = time.time() - clock["started"]
    budget = max_tokens or _smallest_budget(variants, options)
    trained, reuse = _train(variants, out, options, seeds, budget, progress, notes)
    clock["train_s"] = time.time() - clock["started"] - clock["curate_s"]
    effects: dict[str, dict] = {}
    for measure, identity in zip(todo, identities):
        dirs = _evaluate(measure, identity, trained, out, options["model"], limit, batch_size, progress, reuse)
        effects.update(_effects(variants, measure, dirs, trained))
    clock["eval_s"] = time.time() - clock["started"] - clock["curate_s"] - clock["train_s"]
    setup = {"recipe": recipe.name, "model": options["model"], "budget_tokens": budget, "seeds": seeds,
             "items_per_group": limit, "suites": suites, "train_options": options,
             "variants": [v.summary() for v in variants.variants], "reuse": reuse,
             "seconds": {k: round(v, 1) for k, v in clock.items() if k != "started"}}
    setup["seconds"]["total_s"] = round(time.time() - clock["started"], 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation_setup.json").write_text(json.dumps(setup, indent=2))
    (out / "ablation.json").write_text(json.dumps(effects, indent=2))
    write_report(effects, setup, out)
    return {"effects": effects, "setup": setup}


def _smallest_budget(variants: Plan, options: dict) -> int:
    """Every variant trains on the same number of tokens: what the smallest one holds (one epoch)."""
    from .compare import equal_budget
    return equal_budget([v.data for v in variants.trainable()], options["model"], options.get("max_len", 1024))


def _train(variants: Plan, out: Path, options: dict, seeds: int, budget: int, progress: bool,
           notes) -> tuple[dict, dict]:
    from ..train.config import TrainConfig
    from .cached_runs import store, trained as train_one
    model_id = model_identity(options["model"])
    runs: dict[str, list[tuple[Path, str]]] = {}
    reuse = {"adapters_trained": 0, "adapters_reused": 0, "evals_run": 0, "evals_reused": 0,
             "stages_run": sum(v.stages - v.reused_stages for v in variants.variants if v.run_dir),
             "stages_reused": sum(v.reused_stages for v in variants.variants if v.run_dir),
             "variants_not_trained": sum(1 for v in variants.variants if not v.data or v.same_as)}
    reuse["adapters_shared"] = 0
    by_plan: dict[tuple[int, str], tuple[Path, str]] = {}
    todo = variants.trainable()
    for n, variant in enumerate(todo, 1):
        data_id = data_identity(variant.data)
        for seed in range(seeds):
            cfg = TrainConfig(data=variant.data, out="-", seed=seed, max_tokens=budget, epochs=100.0, **options)
            key = arm_key(data_id, model_id, train_settings(cfg))
            label = f"ablate: {variant.label} ({n}/{len(todo)}), seed {seed + 1} of {seeds}"
            done = (store() / "train" / key / "summary.json").is_file()
            rows = None if done else plan_of(cfg)
            if rows is not None and (seed, rows) in by_plan:     # the budget cuts the same rows: the same adapter
                folder, key = by_plan[(seed, rows)]
                reuse["adapters_shared"] += 1
                notes.note(f"{label}: the same packed rows as an arm already trained, its adapter is used")
            else:
                reuse["adapters_reused" if done else "adapters_trained"] += 1
                folder, key = train_one(cfg, data_id, model_id, progress, notes, label)
                rows = plan_of(cfg, folder, rows)
                if rows is not None:
                    by_plan[(seed, rows)] = (folder, key)
            link_cached(folder, out / "arms" / variant.name / f"seed-{seed}" / "train")
            runs.setdefault(variant.name, []).append((folder, key))
    return runs, reuse


def plan_of(cfg, folder: Path | None = None, known: str | None = None) -> str | None:
    """The digest of the rows `cfg` trains on (`train.loop.plan_digest`; `known` when computed
    already), kept beside a trained adapter (`plan.json`) so a rerun does not tokenize its data
    again."""
    from ..train.loop import plan_digest
    path = folder / "plan.json" if folder is not None else None
    if path is not None and path.is_file():
        return json.loads(path.read_text())["rows"]
    rows = known or plan_digest(cfg)
    if path is not None:
        path.write_text(json.dumps({"rows": rows}))
    return rows


def _evaluate(measure, identity: list, runs: dict, out: Path, model: str, limit, batch_size: int, progress: bool,
              reuse: dict) -> dict[str, list[Path]]:
    from .cached_runs import evaluated, store
    from .suites import suite_dirname
    dirs: dict[str, list[Path]] = {}
    for name, arms in runs.items():
        for seed, (folder, key) in enumerate(arms):
            done = (measure.folder(store() / "eval" / eval_key(key, identity, limit, batch_size)) / "summary.json")
            reuse["evals_reused" if done.is_file() else "evals_run"] += 1
            result, _ = evaluated(measure, identity, key, folder, model, limit, batch_size, progress)
            target = out / "arms" / name / f"seed-{seed}" / suite_dirname(measure.name)
            link_cached(result, target)
            dirs.setdefault(name, []).append(target)
    return dirs


def seen_records(folder: Path) -> set[str] | None:
    """The records a trained arm saw (its `seen.json`; None for an adapter from before it was kept)."""
    path = Path(folder) / "seen.json"
    return set(json.loads(path.read_text())) if path.is_file() else None


def unshared(trained: dict, a: str, b: str) -> dict | None:
    """How many records arms `a` and `b` did not both see, and how many `b` saw, per seed on average:
    at a budget below the dataset, a step whose removal changes none of the records seen cannot
    have an effect at that budget, whatever it does to the dataset."""
    pairs = [(seen_records(fa), seen_records(fb)) for (fa, _), (fb, _) in zip(trained[a], trained[b])]
    if not pairs or any(x is None or y is None for x, y in pairs):
        return None
    return {"unshared": sum(len(x ^ y) for x, y in pairs) / len(pairs),
            "seen": sum(len(y) for _, y in pairs) / len(pairs)}


def same_training(trained: dict, a: str, b: str) -> bool:
    """Whether arms `a` and `b` trained the same adapter for every seed (byte for byte): at a
    budget below the dataset, removing a step often changes none of the records trained on."""
    from ..fingerprint import folder_fingerprint
    return all(folder_fingerprint(Path(fa) / "adapter") == folder_fingerprint(Path(fb) / "adapter")
               for (fa, _), (fb, _) in zip(trained[a], trained[b]))


def _no_change(kind: str, note: str, **extra) -> dict:
    """A row whose two arms trained the same thing: an effect of exactly zero, and why."""
    return {"kind": kind, "verdict": "no change", "diff": 0.0, "low": 0.0, "high": 0.0, "detectable": 0.0,
            **extra, "note": note}


def _effects(variants: Plan, measure, dirs: dict[str, list[Path]], trained: dict) -> dict[str, dict]:
    """{metric: {unit label: effect}}: for each switched-off step, full − without; for each
    prefix, (the prefix with one more step) − (the prefix). Each measured row also says how many
    of the records the two arms trained on differed (`unshared`)."""
    def arm(v: Variant) -> str | None:
        return v.same_as or (v.name if v.data else None)
    out: dict[str, dict] = {}
    full = arm(variants.full)
    pairs = [(v.label, v, full, arm(v)) for v in variants.ablations]
    chain = variants.prefixes + [variants.full]
    pairs += [(f"adding {v.next_step} {'to' if v.kind == 'prefix' and not v.steps else 'after'} {v.label}", v,
               arm(nxt), arm(v)) for v, nxt in zip(chain, chain[1:])]
    for metric, column, lower in metrics_of(dirs[full][0], measure.name):
        table = out.setdefault(metric, {})
        for name, variant, with_it, without_it in pairs:
            kind = "prefix" if variant.kind == "prefix" else "step"
            if without_it is None:
                table[name] = {"kind": kind, "verdict": "not measured", "note": variant.note}
            elif with_it == without_it:
                table[name] = _no_change(kind, "the same training examples with and without it")
            elif same_training(trained, with_it, without_it):
                table[name] = _no_change(kind, "at this budget both arms trained the same adapters (the records it "
                                               "changes were not among those trained on)",
                                         **(unshared(trained, with_it, without_it) or {}))
            else:
                baseline, _ = scores_matrix(dirs[without_it], column)
                treatment, _ = scores_matrix(dirs[with_it], column)
                result = oriented(bootstrap_diff(baseline, treatment, paired_seeds=True), lower)
                table[name] = {"kind": kind, **result, "verdict": VERDICTS[result["verdict"]], "note": variant.note,
                               **(unshared(trained, with_it, without_it) or {})}
    return out


def write_report(effects: dict, setup: dict, out: Path) -> Path:
    lines = [f"# Ablation of {setup['recipe']}", "",
             f"Every variant trained on {setup['budget_tokens']:,} tokens of {setup['model']} with {setup['seeds']} "
             f"seed(s), evaluated on {', '.join(setup['suites'])}"
             + (f" ({setup['items_per_group']} items per group)" if setup["items_per_group"] else "") + ". "
             "A step's effect is (full recipe) − (recipe without it): positive helps on a higher-is-better metric; "
             "loss metrics are oriented so that \"helps\" means lower loss.", ""]
    for metric, table in effects.items():
        lines += [f"## {metric}", "", "| switched off | effect | 95% interval | verdict | detectable (80% power) |",
                  "|---|---:|---|---|---:|"]
        for name, r in table.items():
            if "diff" not in r:
                lines.append(f"| {name} | | | {r['verdict']}: {r['note']} | |")
                continue
            lines.append(f"| {name} | {r['diff']:+.4f} | [{r['low']:+.4f}, {r['high']:+.4f}] | **{r['verdict']}** | "
                         f"{r['detectable']:.4f} |")
        lines += [""] + [f"- {name}: " + "; ".join(filter(None, [
            power_note(r) if "diff" in r and r["verdict"] != "no change" else "", _shared_note(r),
            r.get("note", "")])) + "."
            for name, r in table.items()] + [""]
    reuse, seconds = setup["reuse"], setup["seconds"]
    lines += ["## Cost and reuse", "",
              f"- stages: {reuse['stages_run']} run, {reuse['stages_reused']} reused from shared prefixes",
              f"- adapters: {reuse['adapters_trained']} trained, {reuse['adapters_reused']} reused from the cache, "
              f"{reuse.get('adapters_shared', 0)} not trained because the budget cut the same rows as another "
              f"arm's; {reuse['variants_not_trained']} variant(s) needed no training",
              f"- evals: {reuse['evals_run']} run, {reuse['evals_reused']} reused",
              f"- wall time: {seconds['total_s']:,.0f} s (curation {seconds['curate_s']:,.0f}, training "
              f"{seconds['train_s']:,.0f}, evaluation {seconds['eval_s']:,.0f})", "",
              "Interval: percentile bootstrap resampling eval items and seeds, both paired across the arms, 2,000 rounds.", "",
              "![each step's effect](ablation.png)", ""]
    plot_effects(effects, out / "ablation.png")
    path = out / "ablation.md"
    path.write_text("\n".join(lines))
    return path


def _shared_note(r: dict) -> str:
    if "unshared" not in r:
        return ""
    return (f"the two arms trained on {r['seen']:,.0f} records per seed, {r['unshared']:,.1f} of them not in both "
            "(the rest, the same records in the same order)")


def plot_effects(effects: dict, path: Path) -> Path:
    """One forest plot over every metric: each step's effect with its interval."""
    rows = {f"{name} · {metric.split(' (')[0]}" if len(effects) > 1 else name: r
            for metric, table in effects.items() for name, r in table.items() if "diff" in r}
    return plot_comparison(rows, path, xlabel="full recipe − without the step (95% bootstrap interval)",
                           title="; ".join(effects))


def format_table(effects: dict, width: int = 80) -> str:
    """The terminal summary: one line per step and metric, within `width` columns."""
    lines = []
    for metric, table in effects.items():
        lines.append(metric[:width])
        room = max(12, width - 44)
        for name, r in table.items():
            shown = name if len(name) <= room else name[:room - 1] + "…"
            if "diff" not in r:
                lines.append(f"  {shown:<{room}} {r['verdict']}")
                continue
            lines.append(f"  {shown:<{room}} {r['diff']:+.4f} [{r['low']:+.4f},{r['high']:+.4f}] {r['verdict']}")
    return "\n".join(lines)
