"""`filter.pii`: find personal data and secrets in text fields; mask them with typed placeholders or drop the record."""

from __future__ import annotations

import re
from typing import Literal

import polars as pl
from pydantic import Field, field_validator

from ...errors import ConfigError
from ..base import Result, Step, StepConfig, register, split_by_reason

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
    # Provider-specific key shapes, then `key = value` assignments of long tokens (group 1 keeps
    # the `key =` part when masking).
    "api_key": (r"\b(?:sk-(?:proj-)?[A-Za-z0-9_\-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}"
                r"|xox[abprs]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35}|hf_[A-Za-z0-9]{30,})"
                r"|((?i:api[_\-]?key|secret[_\-]?key|access[_\-]?token|auth[_\-]?token|password)"
                r"[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9_\-/+]{16,}"),
    "credit_card": r"\b(?:\d[ \-]?){12,18}\d\b",
    "ip_address": (rf"\b{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}\b"
                   r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"),
    "phone": (r"(?:\+\d{1,3}[\s.\-]?)?\(?\b\d{3}\)?[\s.\-]\d{3}[\s.\-]\d{4}\b"
              r"|\+\d{1,3}(?:[\s.\-]?\d{2,4}){2,5}\b"),
}
PLACEHOLDER = {"email": "[EMAIL]", "api_key": "${1}[API_KEY]", "credit_card": "[CREDIT_CARD]",
               "ip_address": "[IP_ADDRESS]", "phone": "[PHONE]"}


def luhn_ok(candidate: str) -> bool:
    """The checksum every payment card number satisfies: keeps ISBNs and order numbers out."""
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_cards(text: str | None) -> str | None:
    if text is None:
        return None
    return re.sub(PATTERNS["credit_card"], lambda m: PLACEHOLDER["credit_card"] if luhn_ok(m.group()) else m.group(), text)


@register("filter.pii")
class PIIFilter(Step):
    """Find e-mail addresses, phone numbers, IPv4/IPv6 addresses, payment card numbers (with a Luhn
    check) and API-key-like secrets (OpenAI, AWS, GitHub, Slack, Google, Hugging Face key shapes,
    and `api_key = <long token>` assignments) in `fields`. `action: mask` replaces each with a typed
    placeholder (`[EMAIL]`, `[PHONE]`, `[IP_ADDRESS]`, `[CREDIT_CARD]`, `[API_KEY]`) and keeps the
    record; `action: drop` sends records with any to the ledger as `pii`, naming the kinds found.
    Counts per kind (`pii_<kind>`: records affected) go to the manifest."""

    class Config(StepConfig):
        fields: list[str] = Field(["instruction", "context", "response", "system"], description="text columns scanned")
        kinds: list[str] = Field(list(PATTERNS), description=f"what to find: {', '.join(PATTERNS)}")
        action: Literal["mask", "drop"] = Field("mask", description="mask with placeholders, or drop the record")

        @field_validator("kinds")
        @classmethod
        def _known(cls, kinds):
            unknown = sorted(set(kinds) - set(PATTERNS))
            if unknown:
                raise ValueError(f"unknown kinds {unknown}; choose from {', '.join(PATTERNS)}")
            return kinds

    def _found(self, batch: pl.DataFrame) -> dict[str, pl.Series]:
        """Per kind, whether each record has one in any field (cards confirmed by Luhn)."""
        found = {}
        for kind in self.config.kinds:
            hit = pl.any_horizontal(pl.col(f).str.contains(PATTERNS[kind]).fill_null(False) for f in self.config.fields)
            flags = batch.select(hit).to_series()
            if kind == "credit_card" and flags.any():
                rows = flags.arg_true().to_list()
                confirmed = [any(luhn_ok(m) for f in self.config.fields if batch[f][r]
                                 for m in re.findall(PATTERNS[kind], batch[f][r])) for r in rows]
                flags = flags.scatter(rows, confirmed)
            found[kind] = flags
        return found

    def apply(self, batch: pl.DataFrame) -> Result:
        cfg = self.config
        for f in cfg.fields:
            if f not in batch.columns:
                raise ConfigError(f"filter.pii: field '{f}' is not a text column; columns: {', '.join(batch.columns)}")
        found = self._found(batch)
        stats = {f"pii_{kind}": int(flags.sum()) for kind, flags in found.items()}
        if cfg.action == "drop":
            kinds = pl.concat_list([pl.when(pl.lit(flags)).then(pl.lit(kind)) for kind, flags in found.items()]) \
                .list.drop_nulls().list.join(", ")
            res = split_by_reason(batch, pl.when(kinds != "").then(pl.lit("pii")), pl.format("found {}", kinds))
            res.stats = stats
            return res
        kept = batch
        if "credit_card" in cfg.kinds and found["credit_card"].any():   # first: a card's digits are not a phone
            kept = kept.with_columns(pl.col(f).map_elements(_mask_cards, return_dtype=pl.Utf8) for f in cfg.fields)
        present = [kind for kind in cfg.kinds if kind != "credit_card" and found[kind].any()]
        masked = []
        for f in cfg.fields:
            expr = pl.col(f)
            for kind in present:               # only kinds this batch has: each replace is a full regex pass
                expr = expr.str.replace_all(PATTERNS[kind], PLACEHOLDER[kind])
            masked.append(expr)
        return Result(kept=kept.with_columns(masked), stats=stats)
