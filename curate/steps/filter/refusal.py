"""`filter.refusal`: drop model refusals and assistant boilerplate."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..base import register
from .field_check import FieldCheck, FieldCheckConfig

REFUSALS = [
    "as an ai language model", "as a language model", "as an ai assistant", "as a large language model",
    "i'm just an ai", "i am just an ai", "i'm an ai", "i am an ai", "i cannot fulfill", "i can't fulfill",
    "i cannot comply", "i can't comply", "i'm not able to provide", "i am not able to provide",
    "i cannot provide", "i can't provide", "i'm unable to", "i am unable to", "i cannot assist", "i can't assist",
    "i'm sorry, but i cannot", "i'm sorry, but i can't", "i apologize, but i cannot", "i apologize, but i can't",
    "my apologies, but i cannot", "it is not appropriate for me", "it's not appropriate for me",
    "i do not have personal opinions", "i don't have personal opinions", "i do not have access to real-time",
    "i don't have access to real-time", "my knowledge cutoff", "my training data", "openai", "chatgpt",
    "against my programming", "as of my last update", "as of my last knowledge update",
]


@register("filter.refusal")
class RefusalFilter(FieldCheck):
    """Reject texts containing model-refusal or boilerplate phrases ("As an AI language model…",
    "I'm sorry, but I cannot…", "my knowledge cutoff", ...; the full list is `phrases`, replaceable,
    and `extra_phrases` adds to it). Matching is case-insensitive; the ledger names the phrase.
    Reason: `refusal`."""

    reason = "refusal"

    class Config(FieldCheckConfig):
        phrases: list[str] = Field(REFUSALS, description="phrases that mark a refusal or boilerplate")
        extra_phrases: list[str] = Field([], description="phrases added to `phrases`")

    def check(self, text):
        phrases = [p.lower() for p in self.config.phrases + self.config.extra_phrases]
        folded = text.str.replace_all("\u2019", "'").str.to_lowercase()
        hit = folded.str.extract_many(phrases, ascii_case_insensitive=True).list.first()
        return hit.is_not_null(), pl.format("contains '{}'", hit)
