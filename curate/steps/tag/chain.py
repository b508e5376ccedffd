"""`tag.chain`: recognise Chain-of-Instructions responses and count their steps."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..compose import chain_format
from ..base import Result, Step, StepConfig, register, split


@register("tag.chain")
class TagChain(Step):
    """Parse each response as a CoI chain ("Task 1 output and task 2 input: … Task 2 output: …",
    the published files' loose spellings included) and add `tag_chain_steps`: the number of steps,
    or null when the response is not a chain. With `require: true`, records that are not chains,
    or whose step count differs from the instruction's "and then" count, go to the ledger
    (`not_chain_format`, `chain_step_mismatch`) — the check for published or model-made chains."""

    class Config(StepConfig):
        require: bool = Field(False, description="reject records whose response is not a well-formed chain")

    def apply(self, batch: pl.DataFrame) -> Result:
        parsed = [chain_format.parse(r) for r in batch["response"].to_list()]
        steps = pl.Series("tag_chain_steps", [len(p) if p else None for p in parsed], dtype=pl.Int32)
        tagged = batch.with_columns(steps)
        if not self.config.require:
            return Result(kept=tagged)
        links = batch["instruction"].str.count_matches(r"\band then\b") + 1
        reason = (pl.when(pl.col("tag_chain_steps").is_null()).then(pl.lit("not_chain_format"))
                  .when(pl.col("tag_chain_steps") != pl.col("_links")).then(pl.lit("chain_step_mismatch")))
        detail = pl.format("{} steps in the response, {} in the instruction",
                           pl.col("tag_chain_steps").fill_null(0), pl.col("_links"))
        frame = tagged.with_columns(links.alias("_links")).with_columns(reason.alias("_reason"),
                                                                        detail.alias("_detail"))
        res = split(frame, pl.col("_reason").is_null(), pl.col("_reason"), pl.col("_detail"))
        res.kept = res.kept.drop("_links", "_reason", "_detail")
        return res
