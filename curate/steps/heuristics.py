"""Quality heuristics for instruction data, one step each, with defaults chosen for instruction /
response pairs rather than web pages (short answers such as "Paris" or "42" must survive)."""

from __future__ import annotations

import re
import polars as pl
from pydantic import Field

from .base import register
from .field_check import FieldCheck, FieldCheckConfig
from .text import SQUEEZE

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
PLACEHOLDERS = ["n/a", "na", "none", "null", "nan", "-", "...", "todo", "tbd", "<noinput>", "no output",
                "<nooutput>", "[deleted]", "[removed]"]


def _norm(text: pl.Expr) -> pl.Expr:
    return text.str.to_lowercase().str.replace_all(SQUEEZE, " ").str.strip_chars()


@register("filter.trivial")
class TrivialResponse(FieldCheck):
    """Reject a response that is empty, whitespace, only punctuation/symbols, shorter than
    `min_chars` non-space characters, or a placeholder (`placeholders`: "N/A", "none", "...",
    "<noinput>", ..., compared case-insensitively). Reason: `trivial_response`."""

    reason = "trivial_response"

    class Config(FieldCheckConfig):
        min_chars: int = Field(1, ge=0, description="fewest non-space characters allowed")
        placeholders: list[str] = Field(PLACEHOLDERS, description="whole texts that count as no answer")

    def check(self, text):
        stripped = text.str.strip_chars()
        chars = stripped.str.replace_all(r"\s", "").str.len_chars()
        no_word = ~stripped.str.contains(r"[\p{L}\p{N}]")
        placeholder = _norm(text).is_in([p.lower() for p in self.config.placeholders])
        bad = (chars < self.config.min_chars) | no_word | placeholder
        why = (pl.when(chars == 0).then(pl.lit("empty"))
               .when(placeholder).then(pl.format("placeholder '{}'", stripped))
               .when(no_word).then(pl.lit("no letters or digits"))
               .otherwise(pl.format("{} non-space chars < min {}", chars, pl.lit(self.config.min_chars))))
        return bad, why


@register("filter.echo")
class EchoResponse(FieldCheck):
    """Reject a response that repeats its instruction: equal to it (after casefolding and squeezing
    whitespace), or, if at least `min_words` words long, contained in it. Only the instruction is
    compared: a response found in the context is normal for extractive QA. Reason: `echoes_instruction`."""

    reason = "echoes_instruction"

    class Config(FieldCheckConfig):
        min_words: int = Field(5, ge=1, description="shortest response checked for containment in the instruction")

    def check(self, text):
        response = _norm(text)
        instruction = _norm(pl.col("instruction").fill_null(""))
        equal = response == instruction
        words = response.str.count_matches(" ") + 1
        contained = (words >= self.config.min_words) & instruction.str.contains(response, literal=True)
        return equal | contained, pl.when(equal).then(pl.lit("equals the instruction")) \
            .otherwise(pl.lit("contained in the instruction"))


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


@register("filter.repetition")
class RepetitionFilter(FieldCheck):
    """Reject texts that repeat themselves: the share of word `n`-grams that repeat an earlier
    n-gram of the same text (1 - distinct / total) above `max_ratio`, for texts of at least
    `min_ngrams` n-grams (short texts repeat little by chance). Reason: `repetitive`."""

    reason = "repetitive"

    class Config(FieldCheckConfig):
        n: int = Field(3, ge=1, le=20, description="words per n-gram")
        max_ratio: float = Field(0.3, ge=0, le=1, description="largest allowed share of repeated n-grams")
        min_ngrams: int = Field(10, ge=1, description="texts with fewer n-grams are not checked")

    def check(self, text):
        n = self.config.n
        words = text.str.to_lowercase().str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
        grams = words.list.eval(pl.concat_str([pl.element().shift(-k) for k in range(n)], separator=" ")).list.drop_nulls()
        total = grams.list.len()
        ratio = 1 - grams.list.n_unique() / total
        bad = (total >= self.config.min_ngrams) & (ratio > self.config.max_ratio)
        return bad, pl.format("{}% of word {}-grams repeated > {}%", (ratio * 100).round(1), pl.lit(n),
                              pl.lit(round(self.config.max_ratio * 100, 1)))


@register("filter.chars")
class CharRatioFilter(FieldCheck):
    """Reject texts with too high a share of symbol characters (`max_symbols`; Unicode symbols plus
    brackets and other non-sentence punctuation), digits (`max_digits`), or non-printable control
    characters other than tab and newline (`max_nonprintable`, default 0: any). Symbol and digit
    shares are checked on texts of at least `min_chars` characters, so "42" survives. Reason:
    `char_ratio`."""

    reason = "char_ratio"

    class Config(FieldCheckConfig):
        max_symbols: float = Field(0.35, ge=0, le=1, description="largest share of symbol characters")
        max_digits: float = Field(0.5, ge=0, le=1, description="largest share of digits")
        max_nonprintable: float = Field(0.0, ge=0, le=1, description="largest share of non-printable characters")
        min_chars: int = Field(20, ge=1, description="shortest text whose symbol and digit shares are checked")

    def check(self, text):
        cfg = self.config
        visible = text.str.replace_all(r"\s", "")
        n = pl.max_horizontal(visible.str.len_chars(), pl.lit(1))
        symbols = visible.str.count_matches(r"[\p{S}\[\]{}()<>@#%^&*_=|\\/~`]") / n
        digits = visible.str.count_matches(r"\p{N}") / n
        control = text.str.count_matches(r"[\p{Cc}\x{FFFD}&&[^\t\n\r]]") / pl.max_horizontal(text.str.len_chars(), pl.lit(1))
        long_enough = visible.str.len_chars() >= cfg.min_chars
        sym_bad = long_enough & (symbols > cfg.max_symbols)
        dig_bad = long_enough & (digits > cfg.max_digits)
        ctl_bad = control > cfg.max_nonprintable
        why = (pl.when(ctl_bad).then(pl.format("non-printable share {}", control.round(3)))
               .when(sym_bad).then(pl.format("symbol share {} > {}", symbols.round(3), pl.lit(cfg.max_symbols)))
               .otherwise(pl.format("digit share {} > {}", digits.round(3), pl.lit(cfg.max_digits))))
        return sym_bad | dig_bad | ctl_bad, why


@register("filter.markup")
class MarkupFilter(FieldCheck):
    """Reject texts with unbalanced markup: an odd number of ``` code fences, an odd number of `$$`
    math delimiters, or an HTML block tag (`tags`: pre, code, div, table, ul, ol, script, ...) opened
    more often than closed. Reason: `unbalanced_markup`."""

    reason = "unbalanced_markup"

    class Config(FieldCheckConfig):
        tags: list[str] = Field(["pre", "code", "div", "table", "ul", "ol", "script", "style", "blockquote"],
                                description="HTML tags that must be closed")

    def check(self, text):
        fences = text.str.count_matches(r"(?m)^\s*```")
        math = text.str.count_matches(r"\$\$", literal=False)
        bad_tag = pl.lit(None, dtype=pl.Utf8)
        for tag in reversed(self.config.tags):
            t = re.escape(tag)
            opened = text.str.count_matches(rf"(?i)<{t}[\s>]")
            closed = text.str.count_matches(rf"(?i)</{t}\s*>")
            bad_tag = pl.when(opened > closed).then(pl.lit(f"<{tag}> not closed")).otherwise(bad_tag)
        odd_fence, odd_math = fences % 2 == 1, math % 2 == 1
        why = (pl.when(odd_fence).then(pl.format("{} ``` fences", fences))
               .when(odd_math).then(pl.format("{} $$ delimiters", math)).otherwise(bad_tag))
        return odd_fence | odd_math | bad_tag.is_not_null(), why


@register("filter.truncated")
class TruncatedFilter(FieldCheck):
    """Reject responses that stop mid-sentence: ending in a comma, colon, opening bracket, dash or
    a function word ("and", "the", "of", "to", ...), or whose last line is prose of at least
    `min_words` words without closing punctuation. Code fences, lists and short answers are not
    judged by their last character. Reason: `truncated`."""

    reason = "truncated"

    class Config(FieldCheckConfig):
        min_words: int = Field(12, ge=1, description="words in the last line before a missing full stop counts")
        dangling_words: list[str] = Field(["and", "or", "but", "the", "a", "an", "of", "to", "with", "for",
                                           "because", "which", "that", "in", "on", "is", "are"],
                                          description="words a finished text does not end with")

    def check(self, text):
        t = text.str.strip_chars_end()
        words = "|".join(re.escape(w) for w in self.config.dangling_words)
        dangling_char = t.str.contains(r"[,:;(\[{\-–—]$")
        dangling_word = t.str.contains(rf"(?i)(^|\s)({words})$")
        last_line = t.str.extract(r"([^\n]*)$").str.strip_chars()
        prose = ~last_line.str.contains(r"^([-*+>|#]|\d+[.)]|```)") & ~t.str.contains(r"```$")
        long_line = last_line.str.count_matches(r"\S+") >= self.config.min_words
        unfinished = prose & long_line & t.str.contains(r"[\p{L}\p{N}]$")
        tail = t.str.slice(-30)
        why = (pl.when(dangling_char).then(pl.format("ends with '{}'", t.str.slice(-1)))
               .when(dangling_word).then(pl.format("ends with a function word: '…{}'", tail))
               .otherwise(pl.format("last sentence unfinished: '…{}'", tail)))
        return dangling_char | dangling_word | unfinished, why


@register("filter.long_lines")
class LongLineFilter(FieldCheck):
    """Reject texts with a line longer than `max_chars` characters (minified code, base64, tables
    flattened into one line). Reason: `long_line`."""

    reason = "long_line"

    class Config(FieldCheckConfig):
        max_chars: int = Field(2500, ge=1, description="longest allowed line, in characters")

    def check(self, text):
        longest = text.str.split("\n").list.eval(pl.element().str.len_chars()).list.max()
        return longest > self.config.max_chars, pl.format("a line of {} chars > {}", longest,
                                                          pl.lit(self.config.max_chars))

