"""`select.tasks`: keep the candidate tasks (groups of a multi-source input) closest to a target
task, the ones worth training on before it (intermediate-task selection, `curate rank-tasks`)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from ..base import Step, register
from ..common.embedding import EmbeddingConfig, collect_for_embedding
from ..decisions import ORDER, Decisions, verdicts


@register("select.tasks")
class SelectTasks(Step):
    """Rank the groups of records (`group_by`, default `source`: one group per input) as
    intermediate tasks for `target` (a file of the target task's examples) by how close their
    example embeddings are to the target's, and keep the records of the `top_k` closest groups.
    `measure`: `combined` (the mean rank over semb, mmd, frechet, kl and knn, default) or one
    of them, or textemb. The others go to the ledger as `task_not_selected` with their rank; the
    whole ranking is in the stage's stats. A group with too few examples for a measure is ranked
    last on it; a group that is mostly the target's own examples is flagged (`leakage`)."""

    scope = "dataset"
    files = ("target", "embeddings")

    class Config(EmbeddingConfig):
        target: str = Field(description="the target task's examples (a data file)")
        group_by: str = Field("source", description="column whose values are the candidate tasks")
        top_k: int = Field(3, ge=1, description="how many tasks to keep")
        measure: Literal["combined", "semb", "mmd", "frechet", "kl", "knn", "textemb"] = Field(
            "combined", description="the ranking used")
        max_examples: int = Field(1000, ge=2, description="examples per task embedded (a seeded sample)")

    def decide(self, data: pl.LazyFrame) -> Decisions:
        from ...io.load import load_records
        from ...models.task_divergence import DEFAULT_MEASURES
        from ..base import resolve_step_file
        from ..common.task_ranking import rank_frames
        cfg = self.config
        if cfg.group_by not in data.collect_schema().names():
            from ...errors import ConfigError
            raise ConfigError(f"select.tasks: no column {cfg.group_by!r} to group tasks by")
        target_path = resolve_step_file(cfg.target, self.ctx.base_dir, "select.tasks.target")[0]
        target = load_records(str(target_path))
        frame = data.select(ORDER, "id", pl.col(cfg.group_by).cast(pl.Utf8).fill_null("(none)").alias("_task")) \
            .collect()                                   # every record's task; texts only for the samples
        chosen = {}
        for (name,), part in frame.group_by("_task", maintain_order=True):
            chosen[str(name)] = part if part.height <= cfg.max_examples else \
                part.sample(cfg.max_examples, seed=self.ctx.seed).sort(ORDER)
        wanted = pl.concat([part[ORDER] for part in chosen.values()]) if chosen else pl.Series(ORDER, [], pl.UInt32)
        texts = collect_for_embedding(data.filter(pl.col(ORDER).is_in(wanted.implode())), cfg, [cfg.group_by])
        samples = {name: texts.join(part.select(ORDER), on=ORDER, how="semi", maintain_order="left")
                   for name, part in chosen.items()}
        sample_target = target if target.height <= cfg.max_examples else target.sample(cfg.max_examples,
                                                                                        seed=self.ctx.seed)
        measures = list(DEFAULT_MEASURES) if cfg.measure == "combined" else [cfg.measure]
        table, info = rank_frames(sample_target, samples, measures, cfg, self.ctx.seed)
        column = "rank" if cfg.measure == "combined" else f"rank_{cfg.measure}"
        rank_of = dict(zip(table["candidate"].to_list(), table[column].to_list()))
        kept = {name for name, r in rank_of.items() if r <= cfg.top_k}
        drop = ~np.isin(frame["_task"].to_numpy(), list(kept))
        details = [None if not d else f"task {t!r} ranked {rank_of[t]} of {len(rank_of)} ({cfg.measure})"
                   for t, d in zip(frame["_task"].to_list(), drop)]
        stats = {"tasks": len(rank_of), "kept_tasks": sorted(kept, key=rank_of.get),
                 "ranking": table.select("candidate", "examples", *measures, "rank", "note").to_dicts(),
                 "leakage": info["leakage"]}
        return Decisions(verdicts(frame, drop, "task_not_selected", details), stats=stats)
