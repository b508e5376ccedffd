"""`curate transfer-matrix`: does training on a source task first help a small target task? For
each (source, target, seed): LoRA on the source (`source_tokens`), then on the target's few-shot
training data (`target_tokens`), against target-only training with the same target budget, both
scored on the target's eval suite. The observed transfer is what `curate rank-tasks --evaluate`
checks a ranking against.

Every adapter and every eval result is cached by what made it (`cached_runs`): source adapters are
trained once and reused across targets, a matrix extended by a source or a target computes only
the new cells, and a killed run continues from its finished cells.

The spec is a YAML file:

    model: bundled:smollm2-135m-instruct
    seeds: 2
    source_tokens: 8000
    target_tokens: 2000
    sources:                      # DATA each: a file, glob or run folder; name: defaults to the stem
      - {path: data/ag_news.jsonl}
    targets:
      - {name: date, train: data/date_train.jsonl, suite: suites/date.yaml, items: 100}

Paths are found in the working directory, then beside the spec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError
from ..models.bundled import SMOLLM2
from ..yaml_lines import where


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="the source task's DATA")
    name: Optional[str] = Field(None, description="its name in the matrix (default: the file stem)")


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    train: str = Field(description="the target's few-shot training DATA")
    suite: str = Field(description="the eval suite the target is scored on (built-in name or YAML)")
    items: Optional[int] = Field(None, ge=1, description="eval items per group (default: all)")


class TransferSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = SMOLLM2
    seeds: int = Field(2, ge=1)
    source_tokens: int = Field(8000, ge=1, description="training tokens on each source")
    target_tokens: int = Field(2000, ge=1, description="training tokens on each target, after a source or alone")
    max_len: int = Field(512, ge=16)
    batch_size: int = Field(4, ge=1)
    lr: float = Field(1e-3, gt=0)
    eval_batch_size: int = Field(16, ge=1)
    metric: str = Field("score", description="the per-item column compared: `score`, or a continuous one the "
                                             "scorer writes (`margin`: the correct option's log-probability "
                                             "lead, which sees effects accuracy rounds away)")
    sources: list[Source] = Field(min_length=1)
    targets: list[Target] = Field(min_length=1)

    @classmethod
    def load(cls, path: str | Path) -> "TransferSpec":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"transfer spec not found: {path}")
        text = path.read_text(encoding="utf-8")
        try:
            data, node = yaml.safe_load(text), yaml.compose(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"{where(str(path), node, tuple(err['loc']))}: {err['msg']}") from None
        return spec.resolved(path.resolve().parent)

    def resolved(self, base: Path) -> "TransferSpec":
        """Paths that exist from the working directory as they are, the rest beside the spec; names
        filled in and checked to be unique."""
        def find(value: str) -> str:
            return value if Path(value).exists() or any(c in value for c in "*?[") or not (base / value).exists() \
                else str(base / value)
        sources = [Source(path=find(s.path), name=s.name or Path(s.path).stem) for s in self.sources]
        targets = [t.model_copy(update={"train": find(t.train), "suite": find(t.suite) if t.suite.endswith(
            (".yaml", ".yml")) else t.suite}) for t in self.targets]
        for kind, names in (("source", [s.name for s in sources]), ("target", [t.name for t in targets])):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ConfigError(f"transfer spec: {kind} name(s) {twice} appear more than once: give each a name:")
        return self.model_copy(update={"sources": sources, "targets": targets})


def _train_config(spec: TransferSpec, data: str, tokens: int, seed: int, init: Path | None = None):
    from ..train.config import TrainConfig
    return TrainConfig(data=data, model=spec.model, out="-", seed=seed, max_tokens=tokens, epochs=100.0,
                       max_len=spec.max_len, batch_size=spec.batch_size, lr=spec.lr,
                       init_adapter=str(init / "adapter") if init else None)


def _scores(folder: Path, metric: str = "score") -> tuple[np.ndarray, list, bool]:
    """Per-item values of `metric`, by item id, and whether lower is better (only `score` of a
    loss scorer is: the continuous columns are all higher-better)."""
    frame = pl.read_parquet(folder / "predictions.parquet").sort("id")
    if metric not in frame.columns or not frame.schema[metric].is_numeric():
        numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
        raise ConfigError(f"transfer spec: metric {metric!r} is not a per-item column of {folder.name}'s results; "
                          f"its numeric columns are {numeric}")
    lower = metric == "score" and bool(json.loads((folder / "summary.json").read_text()).get("lower_is_better"))
    return frame[metric].to_numpy().astype(np.float64), frame["id"].to_list(), lower


def _squeezed(record: dict) -> str:
    from ..records import user_turn
    return " ".join(user_turn(record.get("instruction") or "", record.get("context")).split()).casefold()


def eval_overlap(source: str, target: Target) -> int:
    """How many of the target's eval items appear in the source as a user turn (whitespace and case
    aside): a source that contains the test would transfer for the wrong reason."""
    from ..io.load import load_records
    from .run import suite_records
    from .suites import load_suite
    seen = {_squeezed(r) for r in load_records(source).to_dicts()}
    return sum(_squeezed(r) in seen for r in suite_records(load_suite(target.suite), target.items))


def transfer_matrix(spec: TransferSpec, out: str | Path, progress: bool = True) -> pl.DataFrame:
    """Train and score every cell (or reuse it), write `cells.parquet`, `transfer.parquet`,
    `transfer.csv`, `heatmap.png` and `spec.json` to `out`; return the per-pair table (with
    `eval_overlap`: the target's eval items found in the source, flagged, not removed)."""
    from ..progress import Progress
    from .cached_runs import evaluated, trained
    from .identity import data_identity, model_identity
    from .measures import SuiteMeasure
    from .power import bootstrap_diff
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(spec.model_dump_json(indent=2))
    model_id = model_identity(spec.model)
    measures = {t.name: SuiteMeasure(t.suite) for t in spec.targets}
    identities = {name: m.identity() for name, m in measures.items()}     # a missing suite fails first
    data_ids = {s.name: data_identity(s.path) for s in spec.sources}
    data_ids.update({f"target:{t.name}": data_identity(t.train) for t in spec.targets})
    notes = Progress(enabled=progress)
    cells, per_pair = [], []

    def score(target: Target, folder: Path, key: str) -> Path:
        result, _ = evaluated(measures[target.name], identities[target.name], key, folder, spec.model, target.items,
                              spec.eval_batch_size, False)
        return result

    total = len(spec.targets) * spec.seeds * (len(spec.sources) + 1)
    with Progress(enabled=progress) as bar:
        task = bar.task("transfer cells", total=total)
        alone: dict[tuple[str, int], Path] = {}
        for target in spec.targets:
            for seed in range(spec.seeds):
                folder, key = trained(_train_config(spec, target.train, spec.target_tokens, seed),
                                      data_ids[f"target:{target.name}"], model_id, False, notes,
                                      f"transfer: {target.name} alone, seed {seed}")
                alone[(target.name, seed)] = score(target, folder, key)
                bar.advance(task, 1)
        for source in spec.sources:
            for seed in range(spec.seeds):
                source_folder, _ = trained(_train_config(spec, source.path, spec.source_tokens, seed),
                                           data_ids[source.name], model_id, False, notes,
                                           f"transfer: source {source.name}, seed {seed}")
                for target in spec.targets:
                    folder, key = trained(_train_config(spec, target.train, spec.target_tokens, seed, source_folder),
                                          data_ids[f"target:{target.name}"], model_id, False, notes,
                                          f"transfer: {source.name} -> {target.name}, seed {seed}")
                    result = score(target, folder, key)
                    s, ids, lower = _scores(result, spec.metric)
                    b, ids_b, _ = _scores(alone[(target.name, seed)], spec.metric)
                    if ids != ids_b:
                        raise ConfigError(f"transfer: {target.name} was scored on different items for two adapters")
                    cells.append({"source": source.name, "target": target.name, "seed": seed,
                                  "score": float(s.mean()), "target_only": float(b.mean()),
                                  "gain": float((b.mean() - s.mean()) if lower else (s.mean() - b.mean())),
                                  "lower_is_better": lower, "result": str(result)})
                    bar.advance(task, 1)
    for source in spec.sources:
        for target in spec.targets:
            mine = [c for c in cells if c["source"] == source.name and c["target"] == target.name]
            treat = np.stack([_scores(Path(c["result"]), spec.metric)[0] for c in mine])
            base = np.stack([_scores(alone[(target.name, c["seed"])], spec.metric)[0] for c in mine])
            lower = mine[0]["lower_is_better"]
            diff = bootstrap_diff(-base, -treat) if lower else bootstrap_diff(base, treat)
            per_pair.append({"source": source.name, "target": target.name,
                             "score": float(treat.mean()), "target_only": float(base.mean()),
                             "gain": diff["diff"], "low": diff["low"], "high": diff["high"],
                             "detectable": diff["detectable"], "verdict": diff["verdict"],
                             "items": diff["items"], "seeds": spec.seeds, "lower_is_better": lower,
                             "eval_overlap": eval_overlap(source.path, target)})
    pl.DataFrame(cells).drop("result").write_parquet(out / "cells.parquet")
    table = pl.DataFrame(per_pair)
    table.write_parquet(out / "transfer.parquet")
    table.write_csv(out / "transfer.csv")
    plot_heatmap(table, out / "heatmap.png")
    return table


def plot_heatmap(table: pl.DataFrame, path: Path) -> Path:
    """Sources down, targets across: the gain over target-only training, with its interval's
    verdict marked (+ better, - worse)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sources = list(dict.fromkeys(table["source"].to_list()))
    targets = list(dict.fromkeys(table["target"].to_list()))
    grid = np.full((len(sources), len(targets)), np.nan)
    marks = {}
    for row in table.iter_rows(named=True):
        i, j = sources.index(row["source"]), targets.index(row["target"])
        grid[i, j] = row["gain"]
        marks[(i, j)] = {"better": "+", "worse": "−"}.get(row["verdict"], "")
    span = float(np.nanmax(np.abs(grid))) or 1.0
    fig, ax = plt.subplots(figsize=(1.2 * len(targets) + 3, 0.4 * len(sources) + 1.8))
    image = ax.imshow(grid, cmap="RdBu", vmin=-span, vmax=span, aspect="auto")
    ax.set_xticks(range(len(targets)), targets, rotation=30, ha="right")
    ax.set_yticks(range(len(sources)), [s if len(s) <= 32 else s[:31] + "…" for s in sources])
    for (i, j), mark in marks.items():
        ax.text(j, i, f"{grid[i, j]:+.3f}{mark}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="gain over target-only (+/−: 95% interval excludes 0)")
    ax.set_title("Intermediate-task transfer")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
