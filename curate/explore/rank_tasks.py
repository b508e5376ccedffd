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
from ..models.task_divergence import MEASURES

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
               backend: str = "auto") -> tuple[pl.DataFrame, dict]:
    from ..steps.common.embedding import EmbeddingConfig
    from ..steps.common.task_ranking import rank_frames
    measures = measures or list(MEASURES)
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
