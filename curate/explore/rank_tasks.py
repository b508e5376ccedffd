"""`curate rank-tasks`: which candidate datasets to train on before a small target task, ranked by
how close their examples' embeddings are to the target's (`steps.common.task_ranking`).

A candidate is a dataset (a file, glob or run folder: named by its stem) or, with `group_by`, each
group of records with one value of that column (a multi-source file's `source`, a `task` column).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from ..errors import ConfigError
from ..io.load import load_records
from ..models.bundled import MINILM
from ..models.task_divergence import DEFAULT_MEASURES, MEASURES

DEFAULT_MAX_EXAMPLES = 1000


def _name(data: str) -> str:
    """A run folder's name, a file's stem, or a glob's fixed start (its folder's name if none)."""
    path = Path(data)
    if path.is_dir():
        return path.name
    if any(c in path.name for c in "*?["):
        return re.split(r"[*?\[]", path.name)[0].rstrip("_-.") or path.parent.name
    return path.stem


def _sample(frame: pl.DataFrame, limit: int | None, seed: int) -> pl.DataFrame:
    return frame if not limit or frame.height <= limit else frame.sample(limit, seed=seed).sort("id")


def load_candidates(candidates: list[str], group_by: str | None, limit: int | None, seed: int) -> dict[str, pl.DataFrame]:
    out: dict[str, pl.DataFrame] = {}
    for data in candidates:
        frame = load_records(data)
        if group_by is None:
            name = _name(data)
            if name in out:
                raise ConfigError(f"two candidates are both named {name!r}: rename one file, or use --group-by")
            out[name] = _sample(frame, limit, seed)
            continue
        if group_by not in frame.columns:
            raise ConfigError(f"{data}: no column {group_by!r} to group candidates by (columns: "
                              f"{', '.join(frame.columns)})")
        for (value,), group in sorted(frame.group_by(group_by), key=lambda g: str(g[0][0])):
            name = str(value)
            if name in out:
                raise ConfigError(f"candidate group {name!r} appears in more than one --candidates input")
            out[name] = _sample(group, limit, seed)
    if not out:
        raise ConfigError("no candidates: give --candidates DATA (one or more)")
    return out


def rank_tasks(target: str, candidates: list[str], out: Path | None = None, group_by: str | None = None,
               measures: list[str] | None = None, model: str | None = None, field: str = "text",
               max_examples: int | None = DEFAULT_MAX_EXAMPLES, seed: int = 0, device: str = "auto",
               backend: str = "auto", plot: Path | None = None) -> tuple[pl.DataFrame, dict]:
    from ..steps.common.embedding import EmbeddingConfig
    from ..steps.common.task_ranking import rank_frames
    measures = measures or list(DEFAULT_MEASURES)
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise ConfigError(f"unknown --measure {unknown}: choose from {', '.join(MEASURES)}")
    if out is not None and Path(out).suffix not in (".csv", ".parquet"):
        raise ConfigError(f"--out {out}: give a .csv or .parquet file")
    target_frame = _sample(load_records(target), max_examples, seed)
    if target_frame.height < 2:
        raise ConfigError(f"{target}: the target needs at least 2 examples, it has {target_frame.height}")
    groups = load_candidates(candidates, group_by, max_examples, seed)
    embedding = EmbeddingConfig(field=field, model=model or MINILM, device=device, backend=backend)
    table, info = rank_frames(target_frame, groups, measures, embedding, seed)
    vectors = info.pop("vectors")
    if plot is not None:
        from .task_map import plot_task_map
        info["plot"] = str(plot_task_map(vectors, table, plot, seed=seed))
    info.update({"target": target, "measures": measures, "max_examples": max_examples})
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        table.write_csv(tmp) if out.suffix == ".csv" else table.write_parquet(tmp)
        tmp.replace(out)
    return table, info


def format_table(table: pl.DataFrame, measures: list[str], width: int = 80) -> str:
    """The ranking as fixed-width text that fits `width` columns (long names are cut)."""
    cols = [("rank", 4), ("examples", 8)] + [(m, 8) for m in measures]
    name_width = max(10, min(30, width - sum(w + 1 for _, w in cols) - 1))
    lines = [f"{'candidate':<{name_width}} " + " ".join(f"{c:>{w}}" for c, w in cols)]
    for row in table.iter_rows(named=True):
        cells = [f"{row['rank']:>4}", f"{row['examples']:>8,}"]
        cells += [f"{row[m]:>8.4g}" if row[m] is not None else f"{'-':>8}" for m in measures]
        name = row["candidate"] if len(row["candidate"]) <= name_width else row["candidate"][:name_width - 1] + "…"
        lines.append(f"{name:<{name_width}} " + " ".join(cells))
        if row["note"]:
            lines.append(f"  {row['note']}")
    higher = [m for m in measures if MEASURES[m].higher_is_closer]
    lower = [m for m in measures if not MEASURES[m].higher_is_closer]
    sides = ([f"higher {', '.join(higher)}"] if higher else []) + ([f"lower {', '.join(lower)}"] if lower else [])
    lines.append(f"closer = {'; '.join(sides)}; rank 1 = best")
    return "\n".join(lines)


def evaluate_ranking(matrix: str | Path, measures: list[str] | None = None, model: str | None = None,
                     field: str = "text", max_examples: int | None = DEFAULT_MAX_EXAMPLES, seed: int = 0,
                     device: str = "auto") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rank a transfer matrix's sources for each of its targets (the target's training data
    against each source) and score each measure's ranking against the observed transfer
    (`evals.ranking_quality`). Returns (per measure, mean over targets, with `random` as a row;
    per target and measure)."""
    import json

    import numpy as np
    from ..evals import ranking_quality as rq
    from ..steps.common.embedding import EmbeddingConfig
    from ..steps.common.task_ranking import rank_frames
    folder = Path(matrix)
    if not (folder / "transfer.parquet").is_file() or not (folder / "spec.json").is_file():
        raise ConfigError(f"--evaluate {folder}: not a finished `curate transfer-matrix` folder (no transfer.parquet)")
    spec = json.loads((folder / "spec.json").read_text())
    observed = pl.read_parquet(folder / "transfer.parquet")
    measures = measures or list(DEFAULT_MEASURES)
    embedding = EmbeddingConfig(field=field, model=model or MINILM, device=device)
    sources = {s["name"]: _sample(load_records(s["path"]), max_examples, seed) for s in spec["sources"]}
    rows = []
    for target in spec["targets"]:
        seen = observed.filter(pl.col("target") == target["name"])
        names = seen["source"].to_list()
        if len(names) < 2:
            continue
        sign = -1.0 if seen["lower_is_better"][0] else 1.0
        scores = sign * seen["score"].to_numpy()
        gains = seen["gain"].to_numpy()
        table, _ = rank_frames(_sample(load_records(target["train"]), max_examples, seed),
                               {n: sources[n] for n in names}, measures, embedding, seed)
        by_name = {r["candidate"]: r for r in table.iter_rows(named=True)}
        for m in [*measures, "combined"]:
            column = "rank" if m == "combined" else f"rank_{m}"
            ranks = np.array([by_name[n][column] for n in names], dtype=np.float64)
            order = np.argsort(ranks, kind="stable")
            rows.append({"target": target["name"], "measure": m, "regret_at_1": rq.regret_at_k(scores, order, 1),
                         "regret_at_3": rq.regret_at_k(scores, order, 3), "ndcg": rq.ndcg(gains, order),
                         "spearman": rq.spearman(-ranks, gains)})
        rows.append({"target": target["name"], "measure": "random",
                     "regret_at_1": rq.expected_random_regret(scores, 1),
                     "regret_at_3": rq.expected_random_regret(scores, 3),
                     "ndcg": rq.random_ndcg(gains, seed), "spearman": 0.0})
    if not rows:
        raise ConfigError(f"--evaluate {folder}: no target has two or more sources to rank")
    per_target = pl.DataFrame(rows, schema_overrides={"spearman": pl.Float64})
    order = [*measures, "combined", "random"]
    summary = (per_target.group_by("measure", maintain_order=True)
               .agg(pl.col("regret_at_1", "regret_at_3", "ndcg", "spearman").mean(), pl.len().alias("targets"))
               .sort(pl.col("measure").replace_strict(order, list(range(len(order))))))
    return summary, per_target


def format_evaluation(summary: pl.DataFrame) -> str:
    lines = [f"{'measure':<10} {'targets':>7} {'regret@1':>9} {'regret@3':>9} {'NDCG':>6} {'spearman':>9}"]
    for r in summary.iter_rows(named=True):
        rho = f"{r['spearman']:>9.3f}" if r["spearman"] is not None else f"{'-':>9}"
        lines.append(f"{r['measure']:<10} {r['targets']:>7} {r['regret_at_1']:>8.2f}% {r['regret_at_3']:>8.2f}% "
                     f"{r['ndcg']:>6.3f} {rho}")
    lines.append("regret: % of the best observed target score lost by picking from the top k (0 = best found)")
    return "\n".join(lines)
