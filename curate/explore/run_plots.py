"""The plots of a run that both the HTML report and the exported dataset card show: the funnel,
instruction and response lengths before and after, and the score / tag histograms. One drawing
for both, so the card and the page never disagree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from ..io.manifest import funnel_rows

SAMPLE_ROWS = 100_000


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def stage_outputs(run_dir: Path) -> dict[int, Path]:
    """{stage index: the Parquet of the records that stage kept} (`runner.stage_paths` names them)."""
    return {int(p.name.split("-")[0]): p for p in sorted((Path(run_dir) / "stages").glob("*.parquet"))
            if not p.name.endswith(".rejected.parquet")}


def sampled(frame: pl.DataFrame, rows: int) -> tuple[pl.DataFrame, bool]:
    return (frame.sample(rows, seed=0), True) if frame.height > rows else (frame, False)


def run_frames(run_dir: Path, rows: int = SAMPLE_ROWS) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """(the input records, the final records, which of them were sampled to `rows` rows)."""
    final, cut_final = sampled(pl.read_parquet(Path(run_dir) / "final.parquet"), rows)
    outputs = stage_outputs(run_dir)
    before, cut_input = sampled(pl.read_parquet(outputs[0]), rows) if 0 in outputs else (final, False)
    return before, final, [name for name, cut in (("final", cut_final), ("input", cut_input)) if cut]


def score_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(("score_", "tag_")) and frame.schema[c].is_numeric()]


def funnel_figure(manifest: dict):
    rows = funnel_rows(manifest, top=5)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.2))
    labels = [f"{r['stage']} {r['step']}" for r in rows][::-1]
    ax.barh(labels, [r["kept"] for r in rows][::-1], color="#4c8", label="kept")
    ax.barh(labels, [r["rejected"] for r in rows][::-1], left=[r["kept"] for r in rows][::-1], color="#e66",
            label="rejected")
    ax.set_xlabel("records")
    ax.legend(loc="lower right")
    return fig


def lengths_figure(before: pl.DataFrame, final: pl.DataFrame):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3))
    for ax, field in zip(axes, ("instruction", "response")):
        for frame, label, colour in ((before, "input", "#aaa"), (final, "final", "#48c")):
            words = frame[field].fill_null("").str.split(" ").list.len().to_numpy() if field in frame.columns \
                else np.zeros(0)
            if len(words):
                ax.hist(np.log10(words + 1), bins=40, alpha=0.6, color=colour, label=f"{label} ({len(words):,})")
        ax.set_xlabel(f"{field} length, log10(words + 1)")
        ax.legend(fontsize=8)
    return fig


def histogram(ax, frame: pl.DataFrame, column: str) -> None:
    values = frame[column].drop_nulls().cast(pl.Float64).to_numpy()
    ax.hist(values[np.isfinite(values)], bins=40, color="#48c")
    ax.set_title(f"{column} ({len(values):,} values)", fontsize=9)


def score_figure(frame: pl.DataFrame, column: str):
    fig, ax = pyplot().subplots(figsize=(4.2, 2.6))
    histogram(ax, frame, column)
    return fig


def scores_grid(frame: pl.DataFrame, columns: list[str], per_row: int = 3):
    """Every score histogram in one figure (the dataset card shows one image)."""
    rows = -(-len(columns) // per_row)
    fig, axes = pyplot().subplots(rows, per_row, figsize=(4 * per_row, 2.6 * rows), squeeze=False)
    for ax, column in zip(axes.flat, columns):
        histogram(ax, frame, column)
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return path


def card_images(run_dir: Path, manifest: dict, folder: Path) -> dict[str, Path]:
    """The card's images of a run, written into `folder`: {caption: path}."""
    before, final, _ = run_frames(run_dir)
    images = {"Records kept and rejected per step": save(funnel_figure(manifest), folder / "funnel.png"),
              "Instruction and response lengths, input vs final": save(lengths_figure(before, final),
                                                                        folder / "lengths.png")}
    columns = score_columns(final)
    if columns:
        images["Score and tag distributions in the final data"] = save(scores_grid(final, columns),
                                                                      folder / "scores.png")
    return images
