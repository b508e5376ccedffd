"""`mark.context_indicator`: append an indicator to the user turn of records tagged as depending
on the user's context, for conditional instruction tuning (Wang et al., *On the Loss of
Context-awareness in General Instruction Fine-tuning*): the model learns that the indicator means
"follow what the user gave", and an eval suite with `indicator:` adds it to every query."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..base import Result, Step, StepConfig, register

DEFAULT_INDICATOR = " [IND]"


def with_indicator(instruction: str | None, context: str | None, indicator: str) -> tuple[str | None, str | None, bool]:
    """(instruction, context, added): the indicator at the end of the user turn, which is the
    context when there is one (`records.user_turn` puts the context last), else the instruction.
    A turn that already ends with it is left as it is (added is False)."""
    if context:
        return (instruction, context, False) if context.rstrip().endswith(indicator.strip()) else \
            (instruction, context + indicator, True)
    text = instruction or ""
    return (instruction, context, False) if text.rstrip().endswith(indicator.strip()) else \
        (text + indicator, context, True)


@register("mark.context_indicator")
class MarkContextIndicator(Step):
    """For records whose `tag` column is true (default `tag_context_dependent`, from
    `tag.context_dependency`), append `indicator` (default " [IND]") to the user turn: to the
    context when the record has one, else to the instruction, so the trainer's and an eval
    suite's rendering (`indicator:` in the suite) put it in the same place. A turn that already
    ends with the indicator is not marked twice (counted as `already_marked`). With
    `special_token: true` the indicator becomes one new token when `curate train` trains on the
    run (its embedding row is trained beside LoRA, and the adapter carries the tokenizer); by
    default it stays plain text. Never rejects."""

    class Config(StepConfig):
        indicator: str = Field(DEFAULT_INDICATOR, min_length=1, description="text appended to the user turn")
        tag: str = Field("tag_context_dependent", description="boolean column naming the records to mark")
        special_token: bool = Field(False, description="make the indicator one new token: `curate train` on this "
                                                       "run adds it to the tokenizer and trains its embedding")

    def apply(self, batch: pl.DataFrame) -> Result:
        from ...errors import ConfigError
        if self.config.tag not in batch.columns:
            raise ConfigError(f"mark.context_indicator: no column {self.config.tag!r}; run tag.context_dependency "
                              "before it (or name another boolean column with `tag`)")
        instructions, contexts = batch["instruction"].to_list(), batch["context"].to_list()
        marked = already = 0
        for k, flag in enumerate(batch[self.config.tag].to_list()):
            if not flag:
                continue
            instructions[k], contexts[k], added = with_indicator(instructions[k], contexts[k], self.config.indicator)
            marked += added
            already += not added
        kept = batch.with_columns(pl.Series("instruction", instructions, dtype=pl.Utf8),
                                  pl.Series("context", contexts, dtype=pl.Utf8))
        stats = {"marked": marked, "already_marked": already}
        if self.config.special_token:          # read by the trainer (train.loop.data_tokens)
            stats["add_tokens"] = self.config.indicator.strip()
        return Result(kept=kept, stats=stats)
