"""What token cleaning dropped: which tokens keep their loss most and least often, and a record
shown with its dropped tokens marked, so a user can see whether the mask is sensible (the paper's
claim: it drops tokens the base already predicts and uninformative ones) before training on it.

    from curate.explore.token_masks import kept_tokens, highlighted
    table = kept_tokens("runs/token-clean-…", "bundled:smollm2-135m-instruct")
"""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from ..errors import ConfigError


def _masked(run_dir: str | Path) -> pl.DataFrame:
    path = Path(run_dir) / "final.parquet"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a finished curate run (no final.parquet)")
    frame = pl.read_parquet(path)
    if "loss_mask" not in frame.columns:
        raise ConfigError(f"{run_dir}: no loss_mask column; run score.token_quality in the recipe")
    return frame.filter(pl.col("loss_mask").is_not_null())


def kept_tokens(run_dir: str | Path, model: str, min_count: int = 20, top: int = 15) -> pl.DataFrame:
    """Per response token (as the model's tokenizer splits it, seen at least `min_count` times):
    how often it appears and the share of its occurrences that keep their loss; the `top` most
    and least kept, most kept first."""
    from ..models.lm import load_tokenizer
    tokenizer = load_tokenizer(model)
    frame = _masked(run_dir)
    ids, keep = [], []
    for response, mask in zip(frame["response"].to_list(), frame["loss_mask"].to_list()):
        tokens = tokenizer(response, add_special_tokens=False)["input_ids"]
        if len(tokens) != len(mask):
            raise ConfigError(f"{run_dir}: a loss_mask does not match {model}'s tokens of its response; the mask "
                              "was made with another tokenizer")
        ids += tokens
        keep += mask
    counts = pl.DataFrame({"token_id": ids, "kept": keep}).group_by("token_id") \
        .agg(pl.len().alias("count"), pl.col("kept").mean().alias("kept_share")) \
        .filter(pl.col("count") >= min_count)
    if counts.height == 0:
        raise ConfigError(f"{run_dir}: no response token appears {min_count} times; lower min_count")
    ranked = counts.sort(["kept_share", "count"], descending=[True, True])
    chosen = pl.concat([ranked.head(top), ranked.tail(top)]).unique("token_id", keep="first", maintain_order=True)
    return chosen.with_columns(pl.col("token_id").map_elements(lambda t: tokenizer.decode([t]), return_dtype=pl.Utf8)
                               .alias("token")).select("token", "token_id", "count", "kept_share")


def highlighted(response: str, mask: list[int], tokenizer) -> str:
    """The response as HTML: kept tokens plain, dropped ones struck through in grey."""
    tokens = tokenizer(response, add_special_tokens=False)["input_ids"]
    if len(tokens) != len(mask):
        raise ConfigError("the loss_mask does not match this tokenizer's tokens of the response")
    parts = []
    for token, keep in zip(tokens, mask):
        text = html.escape(tokenizer.decode([token]))
        parts.append(text if keep else f'<s style="color:#999">{text}</s>')
    return "".join(parts).replace("\n", "<br>")


def format_table(table: pl.DataFrame) -> str:
    """The kept-token table at 80 columns."""
    lines = [f"{'token':<24} {'id':>7} {'count':>7} {'kept':>6}"]
    for row in table.iter_rows(named=True):
        shown = repr(row["token"])[1:-1][:24]
        lines.append(f"{shown:<24} {row['token_id']:>7} {row['count']:>7} {row['kept_share']:>6.2f}")
    return "\n".join(lines)
