"""`curate report RUN`: one self-contained HTML page that shows what a run did to the data.

People would rather look than read a manifest: the page has the funnel per step, the rejection
reasons, a histogram of every `score_*` / `tag_*` column, instruction and response lengths before
and after, sources and tasks before and after, an embedding map of kept and dropped records (hover
a point to read it), samples of kept and dropped records per reason, and, when the folder has
them, training curves and eval summaries. Everything is inline (PNG as data URIs, the map as SVG
with tooltips): the page opens with no network. Big runs are sampled for the plots (at most
`sample_rows` rows per table), and the page says so.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Optional

import numpy as np
import polars as pl

from ..errors import ConfigError
from ..io.manifest import funnel_rows
from .run_plots import (SAMPLE_ROWS, funnel_figure, lengths_figure, pyplot as _plt, run_frames, score_columns,
                        score_figure, stage_outputs)
MAP_POINTS = 2000
SAMPLES_PER_REASON = 3
CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
td.l,th.l{text-align:left}.note{color:#666;font-size:.9em}.rec{border:1px solid #eee;padding:.5em;margin:.4em 0;
font-size:.85em;white-space:pre-wrap}.plots{display:flex;flex-wrap:wrap;gap:.5em}img{max-width:100%}
figure{margin:1em 0}"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f'<img class="plot" alt="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _esc(value) -> str:
    return html.escape(str(value))


class Report:
    """The page of one run, section by section (each a small method, in page order)."""

    def __init__(self, run_dir: str | Path, embeddings: Optional[str] = None, sample_rows: int = SAMPLE_ROWS,
                 include: tuple = ()):
        self.dir = Path(run_dir)
        manifest = self.dir / "manifest.json"
        if not manifest.is_file() or not (self.dir / "final.parquet").is_file():
            raise ConfigError(f"{run_dir}: not a finished curate run (no manifest.json / final.parquet)")
        self.manifest = json.loads(manifest.read_text())
        self.sample_rows = sample_rows
        self.before, self.final, self.sampled = run_frames(self.dir, sample_rows)
        ledger = self.dir / "rejected.parquet"
        self.rejected = pl.read_parquet(ledger) if ledger.is_file() else pl.DataFrame()
        self.embeddings = embeddings
        self.include = [_results_folder(Path(p)) for p in include]     # a wrong folder fails before drawing

    # -- sections ---------------------------------------------------------------------------------
    def header(self) -> str:
        m, rows = self.manifest, self.manifest["rows"]
        sampled = (f'<p class="note">Plots are drawn from a seeded sample of {self.sample_rows:,} rows of the '
                   f'{" and ".join(self.sampled)} data.</p>') if self.sampled else ""
        return (f"<h1>curate run: {_esc(m['recipe']['name'])}</h1><p>{_esc(self.dir)} · started "
                f"{_esc(m.get('started', ''))} · {m.get('seconds', 0):.1f} s</p><p><b>{rows['read']:,}</b> read → "
                f"<b>{rows['final']:,}</b> final; {rows['rejected']:,} rejected, {rows['added']:,} added "
                f"(rows in = kept + rejected: {'checked' if rows['read'] + rows['added'] == rows['final'] + rows['rejected'] else 'MISMATCH'})"
                f"</p>{sampled}")

    def funnel(self) -> str:
        rows = funnel_rows(self.manifest, top=5)
        body = "".join(f"<tr><td>{r['stage']}</td><td class='l'>{_esc(r['step'])}{'*' if r['reused'] else ''}</td>"
                       f"<td>{r['in']:,}</td><td>{r['kept']:,}</td><td>{r['rejected']:,}</td><td>{r['added']:,}</td>"
                       f"<td>{r['seconds']:.2f}</td><td class='l'>{_esc(r['top_reasons'])}</td></tr>" for r in rows)
        fig = funnel_figure(self.manifest)
        return ("<h2 id='funnel'>Funnel</h2><table><tr><th>#</th><th class='l'>step</th><th>in</th><th>kept</th>"
                f"<th>rejected</th><th>added</th><th>s</th><th class='l'>top reasons</th></tr>{body}</table>"
                + ("<p class='note'>* reused from an earlier run</p>" if any(r["reused"] for r in rows) else "")
                + f"<figure id='funnel-plot'>{_png(fig)}</figure>")

    def reasons(self) -> str:
        if self.rejected.height == 0:
            return "<h2 id='reasons'>Rejections</h2><p>Nothing was rejected.</p>"
        counts = self.rejected.group_by("step", "reason").len().sort("len", descending=True)
        body = "".join(f"<tr><td class='l'>{_esc(s)}</td><td class='l'>{_esc(r)}</td><td>{n:,}</td></tr>"
                       for s, r, n in counts.iter_rows())
        return ("<h2 id='reasons'>Rejections</h2><table><tr><th class='l'>step</th><th class='l'>reason</th><th>records"
                f"</th></tr>{body}</table>")

    def scores(self) -> str:
        columns = score_columns(self.final)
        if not columns:
            return "<h2 id='scores'>Scores and tags</h2><p>No score_* or tag_* columns in the final data.</p>"
        figures = [f"<figure class='score-plot'>{_png(score_figure(self.final, column))}</figure>"
                   for column in columns]
        return f"<h2 id='scores'>Scores and tags</h2><div class='plots'>{''.join(figures)}</div>"

    def lengths(self) -> str:
        fig = lengths_figure(self.before, self.final)
        return f"<h2 id='lengths'>Lengths before and after</h2><figure id='length-plot'>{_png(fig)}</figure>"

    def sources(self) -> str:
        parts = []
        for column in ("source", "task"):
            if column not in self.final.columns or column not in self.before.columns:
                continue
            before = dict(self.before[column].fill_null("(none)").value_counts().iter_rows())
            after = dict(self.final[column].fill_null("(none)").value_counts().iter_rows())
            names = sorted(before, key=lambda k: -before[k])[:20]
            if len(names) < 2 and column == "task":
                continue
            plt = _plt()
            fig, ax = plt.subplots(figsize=(9, 0.3 * len(names) + 1.2))
            y = np.arange(len(names))
            ax.barh(y - 0.2, [before[n] for n in names], 0.4, color="#aaa", label="input")
            ax.barh(y + 0.2, [after.get(n, 0) for n in names], 0.4, color="#48c", label="final")
            ax.set_yticks(y, [n if len(n) <= 30 else n[:29] + "…" for n in names])
            ax.invert_yaxis()
            ax.legend()
            ax.set_title(f"records per {column}" + (" (20 largest)" if len(before) > 20 else ""))
            parts.append(f"<figure class='source-plot'>{_png(fig)}</figure>")
        return "<h2 id='sources'>Sources and tasks</h2>" + ("".join(parts) or "<p>No source or task labels.</p>")

    def embedding_map(self) -> str:
        title = "<h2 id='map'>Embedding map</h2>"
        path = Path(self.embeddings) if self.embeddings else self.dir / "report" / "embeddings.parquet"
        if not path.is_file():
            return (f"{title}<p id='map-missing'>No embeddings for this run. Add them with <code>curate report "
                    f"{_esc(self.dir)} --embed</code> (embeds up to {MAP_POINTS:,} of the input records, kept and "
                    "rejected, with the bundled MiniLM) or give <code>--embeddings FILE</code> from <code>curate "
                    "embed</code>.</p>")
        vectors = pl.read_parquet(path)
        if "origin" not in vectors.columns:
            raise ConfigError(f"{path}: no origin column; make it with `curate embed` or `curate report --embed`")
        # a record is its id and origin: exact duplicates share an id, not an origin
        final = self.final if "final" not in self.sampled else pl.read_parquet(self.dir / "final.parquet",
                                                                              columns=["id", "origin"])
        kept = set(final.select("id", "origin").iter_rows())
        why = {(i, o): r for i, o, r in self.rejected.select("id", "origin", "reason").iter_rows()} \
            if self.rejected.height else {}
        text = self.before.select("id", "origin", pl.concat_str([pl.col("instruction").fill_null(""), pl.lit(" → "),
                                                                 pl.col("response").fill_null("")]).str.slice(0, 300))
        texts = {(i, o): t for i, o, t in text.iter_rows()}
        if vectors.height > MAP_POINTS:
            vectors = vectors.sample(MAP_POINTS, seed=0)
        x = np.stack(vectors["embedding"].to_numpy()).astype(np.float64)
        x -= x.mean(0)
        xy = x @ np.linalg.svd(x, full_matrices=False)[2][:2].T
        lo, hi = xy.min(0), xy.max(0)
        xy = (xy - lo) / np.where(hi > lo, hi - lo, 1)
        points = []
        for (px, py), rid in zip(xy, vectors.select("id", "origin").iter_rows()):
            state = "kept" if rid in kept else f"dropped: {why.get(rid, 'rejected')}"
            colour = "#48c" if rid in kept else "#e66"
            points.append(f'<circle class="pt" cx="{20 + 760 * px:.1f}" cy="{20 + 460 * (1 - py):.1f}" r="3" '
                          f'fill="{colour}" fill-opacity="0.6"><title>{_esc(state)}\n{_esc(texts.get(rid, rid[0]))}'
                          "</title></circle>")
        return (f"{title}<p class='note'>PCA of {len(points):,} records' embeddings ({_esc(path.name)}); blue kept, "
                "red dropped; hover a point to read the record and why it was dropped.</p>"
                f'<svg id="embedding-map" width="800" height="500" style="border:1px solid #ddd">{"".join(points)}</svg>')

    def samples(self) -> str:
        parts = ["<h2 id='samples'>Samples</h2><h3>Kept</h3>"]
        for record in self.final.head(SAMPLES_PER_REASON).to_dicts():
            parts.append(_record(record))
        if self.rejected.height:
            outputs = stage_outputs(self.dir)
            for (step, reason), group in sorted(self.rejected.group_by("step", "reason"), key=lambda g: g[0]):
                parts.append(f"<h3>Dropped by {_esc(step)}: {_esc(reason)} ({group.height:,})</h3>")
                source = outputs.get(int(group["stage"][0]) - 1)      # the records as that stage received them
                shown = group.head(SAMPLES_PER_REASON)
                records = pl.read_parquet(source).join(shown.select("id", "detail"), on="id") if source else shown
                for record in records.to_dicts():
                    parts.append(_record(record))
        return "".join(parts)

    def training(self) -> str:
        """Training curves and eval summaries found in the run folder (a recipe's train:/eval: blocks)."""
        curves = sorted(self.dir.rglob("loss.png"))
        evals = sorted(p for p in self.dir.rglob("summary.json") if "eval" in p.parts or "evals" in p.parts)
        if not curves and not evals:
            return ""
        parts = ["<h2 id='training'>Training and evaluation</h2>"]
        for curve in curves:
            data = base64.b64encode(curve.read_bytes()).decode()
            parts.append(f"<figure><img class='plot' alt='loss' src='data:image/png;base64,{data}'><figcaption>"
                         f"{_esc(curve.relative_to(self.dir))}</figcaption></figure>")
        for path in evals:
            summary = json.loads(path.read_text())
            parts.append(f"<p>{_esc(path.parent.relative_to(self.dir))}: {_esc(summary.get('suite'))} = "
                         f"{_esc(summary.get('score'))} over {_esc(summary.get('items'))} items</p>")
        return "".join(parts)

    def results(self) -> str:
        """The ablation and compare folders given with `--include`: their tables and plots."""
        parts = []
        for n, (kind, folder, table, plot) in enumerate(self.include):
            title = "Ablation: which step helps" if kind == "ablation" else "Comparison"
            parts.append(f"<h2 class='included' id='{kind}-{n}'>{title}</h2><p class='note'>{_esc(folder)}</p>")
            for metric, rows in (table.items() if kind == "ablation" else [("", table)]):
                if metric:
                    parts.append(f"<h3>{_esc(metric)}</h3>")
                body = "".join(f"<tr><td class='l'>{_esc(name)}</td>" + (
                    f"<td>{r['diff']:+.4f}</td><td>[{r['low']:+.4f}, {r['high']:+.4f}]</td><td class='l'>"
                    f"{_esc(r['verdict'])}</td><td>{r['detectable']:.4f}</td>" if "diff" in r else
                    f"<td></td><td></td><td class='l'>{_esc(r['verdict'])}: {_esc(r.get('note', ''))}</td><td></td>")
                    + "</tr>" for name, r in rows.items())
                head = "switched off" if kind == "ablation" else "metric"
                parts.append(f"<table><tr><th class='l'>{head}</th><th>effect</th><th>95% interval</th>"
                             f"<th class='l'>verdict</th><th>detectable (80% power)</th></tr>{body}</table>")
            if plot.is_file():
                data = base64.b64encode(plot.read_bytes()).decode()
                parts.append(f"<figure><img class='plot' alt='{kind}' src='data:image/png;base64,{data}'></figure>")
        return "".join(parts)

    def html(self) -> str:
        body = "".join([self.header(), self.funnel(), self.reasons(), self.scores(), self.lengths(), self.sources(),
                        self.embedding_map(), self.samples(), self.training(), self.results()])
        return (f"<!doctype html><html><head><meta charset=utf-8><title>curate: {_esc(self.manifest['recipe']['name'])}"
                f"</title><style>{CSS}</style></head><body>{body}</body></html>")


def _results_folder(folder: Path) -> tuple[str, Path, dict, Path]:
    """(kind, folder, results, plot) of a `curate ablate` or `curate compare` output folder."""
    for kind, name, plot in (("ablation", "ablation.json", "ablation.png"), ("compare", "compare.json", "compare.png")):
        if (folder / name).is_file():
            return kind, folder, json.loads((folder / name).read_text()), folder / plot
    raise ConfigError(f"--include {folder}: not a `curate ablate` or `curate compare` folder (no ablation.json or "
                      "compare.json)")


def _record(record: dict) -> str:
    detail = f"<i>{_esc(record['detail'])}</i>\n" if record.get("detail") else ""
    context = f"\n[context] {_esc(record['context'])}" if record.get("context") else ""
    return (f"<div class='rec'>{detail}<b>{_esc(record.get('instruction') or '')}</b>{context}\n→ "
            f"{_esc((record.get('response') or '')[:1500])}</div>")


def embed_for_report(run_dir: str | Path, points: int = MAP_POINTS) -> Path:
    """Embed up to `points` of the run's input records (kept and rejected alike) for the map."""
    from ..steps.common.embedding import EmbeddingConfig, embed_frame
    from ..models.bundled import MINILM
    from ..models.embed import Embedder
    run_dir = Path(run_dir)
    read = stage_outputs(run_dir).get(0)
    if read is None:
        raise ConfigError(f"{run_dir}: no input stage (stages/00-*.parquet) to embed")
    frame = pl.read_parquet(read)
    frame = frame.sample(points, seed=0) if frame.height > points else frame
    cfg = EmbeddingConfig(field="text", model=MINILM)
    vectors, _ = embed_frame(frame, cfg, Embedder(cfg.model, cfg.device, cfg.backend, progress=True))
    out = run_dir / "report" / "embeddings.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.select("id", "origin").with_columns(pl.Series("embedding", vectors, dtype=pl.Array(pl.Float32, vectors.shape[1]))) \
        .write_parquet(out)
    return out


def write_report(run_dir: str | Path, out: Optional[str | Path] = None, embeddings: Optional[str] = None,
                 embed: bool = False, include: tuple = ()) -> Path:
    if embed and not embeddings:
        embeddings = str(embed_for_report(run_dir))
    try:
        page = Report(run_dir, embeddings, include=include).html()
    except (KeyError, TypeError) as exc:            # a manifest from an older curate lacks what the page reads
        from ..version import __version__
        made = json.loads((Path(run_dir) / "manifest.json").read_text()).get("versions", {}).get("curate", "unknown")
        raise ConfigError(f"{run_dir}: its manifest was written by curate {made} and lacks {exc}; rerun the recipe "
                          f"with this curate ({__version__}) to report it (finished stages are reused)") from None
    out = Path(out) if out else Path(run_dir) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
