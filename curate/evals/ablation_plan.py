"""What `curate ablate` switches off, and the dataset each switched-off variant trains on.

A variant is the recipe with one step removed, run like any recipe into the ablation's own runs
folder, so the stages before the removed step are the full run's, reused by fingerprint and not
recomputed (`Runner` reuses sibling stages). Two kinds of step need more than removal:

- A step that only writes columns a later step reads (`score.ifd` then `select.top by:
  score_ifd`) cannot be removed alone: the reader would fail. It is switched off together with
  the steps whose config names one of its columns (found from the full run's stage schemas), and
  labelled so: "05 score.ifd + 06 select.top".
- A step that adds records (`compose.*`) is switched off by removing what it added (and what later
  steps derived from those records) from the full recipe's final dataset; the rest of the recipe's
  choices stay as they were.

A variant whose training examples are exactly the full recipe's (a score nobody reads) is not
trained: its effect is zero by construction, and the table says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..errors import ConfigError, CurateError
from ..fingerprint import digest

# What the trainer reads from a record (`train.examples.encode`, `records.to_messages`).
TRAINING_COLUMNS = ("instruction", "context", "response", "system", "history", "loss_mask")


@dataclass
class Variant:
    """One arm of the ablation: `name` is a folder-safe slug, `label` what the table shows."""

    name: str
    label: str
    kind: str                                   # full | without | prefix
    steps: tuple[int, ...] = ()                 # recipe step indexes switched off (without) or kept (prefix)
    data: str | None = None                     # what `curate train` reads; None: nothing to train
    note: str = ""                              # why there is nothing to train, when there is not
    same_as: str | None = None                  # a variant with exactly these training examples
    next_step: str = ""                         # prefixes: the step the next prefix adds
    records: int = 0
    run_dir: str | None = None
    reused_stages: int = 0
    stages: int = 0

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "", ())}


@dataclass
class Plan:
    full: Variant
    ablations: list[Variant] = field(default_factory=list)
    prefixes: list[Variant] = field(default_factory=list)

    @property
    def variants(self) -> list[Variant]:
        return [self.full, *self.ablations, *self.prefixes]

    def trainable(self) -> list[Variant]:
        """The variants that need their own training: data, and not the same examples as another."""
        return [v for v in self.variants if v.data and not v.same_as]


def bare(recipe) -> dict:
    """The recipe as a dict without its own train/eval blocks: ablate trains every variant itself."""
    data = recipe.model_dump(mode="json", by_alias=True, exclude={"base_dir"})
    data.pop("train", None)
    data.pop("eval", None)
    return data


def run_variant(like, data: dict, runs: Path, progress: bool) -> Path:
    """Run `data` as a recipe beside `like` (the user's recipe): its class and folder are the ones
    the variant is read with, so relative input paths mean the same (evals sit below the recipe
    module and do not import it)."""
    from ..runner import Runner
    return Runner(type(like).from_dict(data, base_dir=like.base_dir), runs, progress=progress).run()


def units(recipe, full_run: Path) -> list[tuple[int, ...]]:
    """The step groups to switch off, in recipe order: each step alone, or with the later steps
    that read a column only it wrote."""
    from ..explore.run_plots import stage_outputs
    from ..steps import build_config
    outputs = stage_outputs(full_run)
    columns = {i: set(pl.read_parquet_schema(p)) for i, p in outputs.items()}
    configs = [build_config(use.use, use.with_).model_dump(mode="json") for use in recipe.steps]   # with defaults
    groups = []
    for k in range(len(recipe.steps)):
        written = columns[k + 1] - columns[k]
        readers = tuple(m for m in range(k + 1, len(recipe.steps)) if written and _names_any(configs[m], written))
        groups.append((k, *readers))
    return groups


def _names_any(config: dict, names: set[str]) -> bool:
    text = json.dumps(config)
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", text) for n in names)


def label(recipe, steps: tuple[int, ...]) -> str:
    return " + ".join(f"{k + 1:02d} {recipe.steps[k].use}" for k in steps)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def plan(recipe, out: Path, prefixes: bool, progress: bool, notes) -> Plan:
    """Run the full recipe and every variant; say which dataset each trains on."""
    if not recipe.steps:
        raise ConfigError(f"recipe {recipe.name} has no steps: there is nothing to ablate")
    if len(recipe.steps) == 1:
        raise ConfigError(f"recipe {recipe.name} has one step ({recipe.steps[0].use}): there is nothing to switch "
                          "off beside it; to measure that step, compare the run with its input: curate compare "
                          "--baseline INPUT --treatment RUN")
    runs, base = out / "runs", bare(recipe)
    notes.note(f"ablate: the full recipe ({len(recipe.steps)} steps)")
    full_run = run_variant(recipe, base, runs, progress)
    full = _from_run(Variant("full", "full recipe", "full"), full_run)
    result = Plan(full)
    for group in units(recipe, full_run):
        name = label(recipe, group)
        variant = Variant(slug(f"without-{name}"), name, "without", group)
        if len(group) == 1 and recipe.steps[group[0]].use.startswith("compose."):
            notes.note(f"ablate: without {name} (its added records removed)")
            _subtract_added(variant, full_run, group[0] + 1, out / "variants")
        else:
            notes.note(f"ablate: without {name}")
            kept = [s for i, s in enumerate(base["steps"]) if i not in group]
            _run_into(variant, {**base, "steps": kept}, recipe, runs, progress)
        result.ablations.append(variant)
    if prefixes:
        for j in range(len(recipe.steps)):
            name = "the input" if j == 0 else f"01–{j:02d}" if j > 1 else "01"
            notes.note(f"ablate: the recipe's first {j} step(s)")
            variant = Variant(f"prefix-{j:02d}", name, "prefix", tuple(range(j)), next_step=label(recipe, (j,)))
            _run_into(variant, {**base, "steps": base["steps"][:j]}, recipe, runs, progress)
            result.prefixes.append(variant)
    _mark_same_examples(result)
    return result


def _run_into(variant: Variant, data: dict, like, runs: Path, progress: bool) -> None:
    try:
        _from_run(variant, run_variant(like, data, runs, progress))
    except CurateError as exc:      # e.g. a later step needs what the removed one made
        variant.note = f"the recipe does not run without it: {str(exc).splitlines()[0]}"


def _from_run(variant: Variant, run_dir: Path) -> Variant:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    variant.run_dir, variant.data = str(run_dir), str(run_dir)
    variant.records = manifest["rows"]["final"]
    variant.stages = len(manifest["stages"])
    variant.reused_stages = sum(bool(s.get("reused")) for s in manifest["stages"])
    if variant.records == 0:
        variant.data, variant.note = None, "no records left to train on"
    return variant


def _subtract_added(variant: Variant, full_run: Path, stage: int, folder: Path) -> None:
    """The full final dataset without the records stage `stage` added, nor those later stages
    derived from them (by `parent_ids`)."""
    from ..explore.run_plots import stage_outputs
    outputs = stage_outputs(full_run)

    def new_rows(i: int, columns: list[str]) -> pl.DataFrame:       # rows of stage i not in stage i - 1
        before = pl.read_parquet(outputs[i - 1], columns=["id", "origin"])
        return pl.read_parquet(outputs[i], columns=columns).join(before, on=["id", "origin"], how="anti",
                                                                 nulls_equal=True)
    removed = set(new_rows(stage, ["id", "origin"]).iter_rows())
    ids = {i for i, _ in removed}
    for later in sorted(i for i in outputs if i > stage):
        for rid, origin, parents in new_rows(later, ["id", "origin", "parent_ids"]).iter_rows():
            if set(parents or ()) & ids:
                removed.add((rid, origin))
                ids.add(rid)
    final = pl.read_parquet(full_run / "final.parquet")
    if not removed:
        variant.note = "it added no records in this run: nothing to remove"
        return
    drop = pl.DataFrame(sorted(removed), schema=["id", "origin"], orient="row")
    kept = final.join(drop, on=["id", "origin"], how="anti", nulls_equal=True)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{variant.name}.parquet"
    kept.write_parquet(path)
    variant.data, variant.records = str(path), kept.height
    if kept.height == 0:
        variant.data, variant.note = None, "no records left to train on"


def training_view(data: str) -> str:
    """A digest of exactly what training reads from a dataset, in order."""
    from ..io.load import load_records
    frame = load_records(data)
    present = [c for c in TRAINING_COLUMNS if c in frame.columns]
    hashes = frame.select(present).hash_rows(seed=0)
    return digest(present, frame.height, hashes.to_list())


def _mark_same_examples(result: Plan) -> None:
    seen: dict[str, Variant] = {}
    for variant in result.variants:
        if not variant.data:
            continue
        view = training_view(variant.data)
        if view in seen:
            variant.same_as = seen[view].name
            if seen[view] is not result.full:
                variant.note = f"the same training examples as {seen[view].label}: trained once"
        else:
            seen[view] = variant
