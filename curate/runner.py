"""Run a recipe: stages, fingerprints, resume, the rejected ledger, the manifest, the catalog.

    runs/<recipe>-<fingerprint>/
      stages/NN-<step>.parquet           records after stage NN
      stages/NN-<step>.rejected.parquet  what stage NN rejected (id, stage, step, reason, detail, origin)
      stages/NN-<step>.json              stage metadata, written last: its presence marks the stage done
      final.parquet, rejected.parquet, manifest.json, catalog.duckdb

A stage is reused when its metadata exists with the same fingerprint, in this run directory or in
a sibling run under the same output folder. Every file is written under a temporary name and
renamed when complete, so a run killed at any moment resumes from its last finished stage.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import polars as pl
import pyarrow.parquet as pq

from .engines import get_engine
from .engines.base import Engine, StageCounts
from .engines.parquet_out import ParquetOut, tmp_name
from .errors import ConfigError, InvariantError, write_error
from .fingerprint import digest, files_fingerprint
from .io.files import resolve_files
from .io.lock import run_lock
from .io.parquet_stream import streamed
from .io.sources import InputReader
from .ledger import LEDGER_SCHEMA, ledger_rows, step_rows_from_dicts
from .process_memory import peak_mib, reset_peak
from .progress import Progress
from .records import SCHEMA
from .steps import Context, build_config, step_class
from .steps.base import step_files
from .version import __version__

if TYPE_CHECKING:                      # the recipe describes runs; the runner only reads one
    from .recipe import Recipe

READ_VERSION = "1"
LIBRARIES = ["polars", "pyarrow", "duckdb", "pydantic", "ftfy", "orjson"]


@dataclass
class Stage:
    index: int
    step: str
    fingerprint: str

    @property
    def stem(self) -> str:
        return f"{self.index:02d}-{self.step}"


def stage_paths(run_dir: Path, stem: str) -> tuple[Path, Path, Path]:
    d = run_dir / "stages"
    return d / f"{stem}.parquet", d / f"{stem}.rejected.parquet", d / f"{stem}.json"


def rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def write_json(path: Path, obj: dict) -> None:
    tmp = tmp_name(path)
    tmp.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    os.replace(tmp, path)


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    out = {"curate": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def input_fingerprint(recipe: "Recipe") -> str:
    parts = [READ_VERSION, recipe.seed, recipe.batch_size]
    for i, spec in enumerate(recipe.inputs):
        parts.append(spec.model_dump(mode="json"))
        if spec.path:
            parts.append(files_fingerprint(resolve_files(spec.path, recipe.base_dir, f"inputs[{i}].path")))
    return digest(*parts)


def step_fingerprint(parent: str, recipe: "Recipe", index: int) -> str:
    """hash(parent stage, step name, version, config, seed, batch size, and the contents of every
    file the config names): an edited eval set or model file recomputes the stage."""
    use = recipe.steps[index]
    cls = step_class(use.use)
    config = build_config(use.use, use.with_)
    parts = [parent, use.use, cls.version, config.model_dump(mode="json"), recipe.seed, recipe.batch_size]
    files = step_files(cls, config, recipe.base_dir, f"steps[{index}].with")
    if any(files.values()):                    # steps that read no file keep their fingerprints
        parts.append({name: files_fingerprint(paths) for name, paths in files.items()})
    return digest(*parts)


class Runner:
    def __init__(self, recipe: "Recipe", out: str | Path | None = None, fresh: bool = False,
                 progress: bool = True, engine: Engine | None = None):
        self.recipe = recipe
        self.fresh = fresh
        self.engine = engine or get_engine(recipe.engine)
        self.out_root = Path(out or recipe.output.dir)
        self.progress = Progress(enabled=progress)
        self.stages = self._plan()
        self.run_dir = self.out_root / f"{recipe.name}-{self.stages[-1].fingerprint[:12]}"

    def _plan(self) -> list[Stage]:
        stages = [Stage(0, "read", input_fingerprint(self.recipe))]
        for i, use in enumerate(self.recipe.steps, 1):
            stages.append(Stage(i, use.use, step_fingerprint(stages[-1].fingerprint, self.recipe, i - 1)))
        return stages

    # -- reuse ------------------------------------------------------------------------------
    def _reusable(self, stage: Stage) -> dict | None:
        if self.fresh:
            return None
        candidates = [self.run_dir] + sorted(p for p in self.out_root.glob("*/") if p != self.run_dir)
        for run in candidates:
            data, rejected, meta = stage_paths(run, stage.stem)
            if not (meta.is_file() and data.is_file() and rejected.is_file()):
                continue
            info = orjson.loads(meta.read_bytes())
            if info.get("fingerprint") != stage.fingerprint:
                continue
            if run != self.run_dir:
                for src, dst in zip((data, rejected, meta), stage_paths(self.run_dir, stage.stem)):
                    _link_or_copy(src, dst)
            return info
        return None

    # -- stages -----------------------------------------------------------------------------
    def _read_stage(self, stage: Stage, out: ParquetOut, rejected: ParquetOut) -> tuple[StageCounts, dict]:
        counts = StageCounts()
        inputs = []
        task = self.progress.task("read", total=None)
        # Every input's `keep:` columns, in every batch (null where an input has none), so one
        # input's extra fields are not dropped for not being in the first batch's schema.
        extra = list(dict.fromkeys(c for spec in self.recipe.inputs for c in spec.keep))
        for i, spec in enumerate(self.recipe.inputs):
            reader = InputReader(spec, i, self.recipe.base_dir, self.recipe.seed, self.recipe.batch_size,
                                 parse_spans=self.engine.span_parser())
            for frame, bad in reader.batches():
                missing = [pl.lit(None, dtype=pl.Utf8).alias(c) for c in extra if c not in frame.columns]
                out.write(frame.with_columns(missing))
                if bad:
                    ledger = step_rows_from_dicts(bad)
                    rejected.write(ledger_rows(ledger, 0, "read"))
                    counts.reasons.update(ledger["reason"].to_list())
                counts.kept += frame.height
                counts.rejected += len(bad)
                self.progress.advance(task, frame.height + len(bad))
            st = reader.stats
            inputs.append({"spec": spec.model_dump(mode="json", exclude_defaults=True), "files": st.files,
                           "formats": st.formats, "seen": st.seen, "taken": st.taken, "quarantined": st.bad,
                           **({"empty_fields": st.empty_fields} if st.empty_fields else {})})
        counts.rows_in = counts.kept + counts.rejected
        self.progress.done(task)
        return counts, {"inputs": inputs}

    def _step_stage(self, stage: Stage, prev: Path, out: ParquetOut, rejected: ParquetOut) -> StageCounts:
        use = self.recipe.steps[stage.index - 1]
        cls = step_class(use.use)
        ctx = Context(seed=self.recipe.seed, stage=stage.index, cache_dir=str((self.run_dir / "cache").absolute()),
                      base_dir=self.recipe.base_dir, batch_size=self.recipe.batch_size)
        step = cls(build_config(use.use, use.with_), ctx)
        task = self.progress.task(stage.step, total=rows(prev))
        counts = self.engine.run_step(step, prev, out, rejected, stage.index, self.recipe.batch_size,
                                      lambda n: self.progress.advance(task, n))
        self.progress.done(task)
        return counts

    def _run_stage(self, stage: Stage, prev: Path | None) -> dict:
        data, rej, meta = stage_paths(self.run_dir, stage.stem)
        start = time.perf_counter()
        reset_peak()
        with ParquetOut(data, SCHEMA) as out, ParquetOut(rej, LEDGER_SCHEMA) as rejected:
            if prev is None:
                counts, extra = self._read_stage(stage, out, rejected)
            else:
                counts, extra = self._step_stage(stage, prev, out, rejected), {}
            out.flush(), rejected.flush()   # a failed write fails the stage before either file is placed
        info = {"index": stage.index, "step": stage.step, "fingerprint": stage.fingerprint,
                "in": counts.rows_in, "kept": counts.kept, "rejected": counts.rejected, "added": counts.added,
                "declined": counts.declined,
                "reasons": dict(counts.reasons.most_common()), "stats": dict(counts.stats),
                "seconds": round(time.perf_counter() - start, 3), "peak_rss_mib": peak_mib(), **extra}
        write_json(meta, info)
        return info

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> Path:
        self.engine.check()
        try:
            (self.run_dir / "stages").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, self.run_dir, ConfigError) from None
        try:
            return self._run_locked()
        except OSError as exc:                         # a full disk, a folder made read-only mid-run
            raise write_error(exc, self.run_dir) from None

    def _run_locked(self) -> Path:
        with run_lock(self.run_dir, self.progress.note):   # a second run of this recipe waits here
            started = time.time()
            for stale in self.run_dir.rglob("*.tmp-*"):       # left by a killed run (we hold the lock)
                stale.unlink() if stale.is_file() else shutil.rmtree(stale, ignore_errors=True)
            if self.fresh:
                for old in (self.run_dir / "stages").glob("*"):
                    old.unlink()
            infos = []
            prev = None
            with self.progress:
                for stage in self.stages:
                    info = self._reusable(stage)
                    if info is not None:
                        info["reused"] = True
                        self.progress.note(f"{stage.stem}: reused ({info['kept'] + info['added']} records)")
                    else:
                        info = self._run_stage(stage, prev)
                        info["reused"] = False
                    infos.append(info)
                    prev = stage_paths(self.run_dir, stage.stem)[0]
            self._finish(infos, started)
        return self.run_dir

    def _finish(self, infos: list[dict], started: float) -> None:
        check_accounting(self.run_dir, self.stages, infos)
        last = stage_paths(self.run_dir, self.stages[-1].stem)[0]
        final = self.run_dir / "final.parquet"
        _link_or_copy(last, final)
        rejected = self.run_dir / "rejected.parquet"
        with ParquetOut(rejected, LEDGER_SCHEMA) as out:   # streamed: a large ledger never sits in memory
            for s in self.stages:
                for batch in streamed(stage_paths(self.run_dir, s.stem)[1]).iter_batches(self.recipe.batch_size):
                    out.write(pl.from_arrow(batch))
        from .io.catalog import build_catalog
        build_catalog(self.run_dir, [s.stem for s in self.stages])
        read = infos[0]
        manifest = {
            "recipe": self.recipe.resolved(), "seed": self.recipe.seed, "versions": library_versions(),
            "run_dir": str(self.run_dir), "fingerprint": self.stages[-1].fingerprint,
            "started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.time() - started, 3), "inputs": read.get("inputs", []),
            "stages": [{k: v for k, v in info.items() if k != "inputs"} for info in infos],
            "rows": {"read": read["in"], "final": rows(final),
                     "rejected": sum(i["rejected"] for i in infos), "added": sum(i["added"] for i in infos),
                     "declined": sum(i.get("declined", 0) for i in infos)},
            "command": " ".join(sys.argv),
        }
        write_json(self.run_dir / "manifest.json", manifest)


def check_accounting(run_dir: Path, stages: list[Stage], infos: list[dict]) -> None:
    """For every stage: in = kept + rejected, and the files hold exactly those counts."""
    problems = []
    prev_rows = None
    for stage, info in zip(stages, infos):
        data, rej, _ = stage_paths(run_dir, stage.stem)
        n_out, n_rej = rows(data), rows(rej)
        n_in = info["in"] if prev_rows is None else prev_rows
        if info["in"] != n_in:
            problems.append(f"{stage.stem}: recorded in={info['in']} but the previous stage holds {n_in}")
        if n_in != info["kept"] + info["rejected"]:
            problems.append(f"{stage.stem}: in {n_in} != kept {info['kept']} + rejected {info['rejected']}")
        if n_out != info["kept"] + info["added"]:
            problems.append(f"{stage.stem}: file holds {n_out} rows, expected kept+added "
                            f"{info['kept'] + info['added']}")
        if n_rej != info["rejected"] + info.get("declined", 0):
            problems.append(f"{stage.stem}: ledger holds {n_rej} rows, expected rejected {info['rejected']} + "
                            f"declined {info.get('declined', 0)}")
        prev_rows = n_out
    if problems:
        raise InvariantError("row accounting failed:\n  " + "\n  ".join(problems))


def _link_or_copy(src: Path, dst: Path) -> None:
    """`dst` becomes `src`'s content, atomically. (When both already name the same file, rename(2)
    does nothing and would leave the temporary link behind: nothing to do then.)"""
    if dst.exists() and os.path.samefile(src, dst):
        return
    tmp = tmp_name(dst)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


class RunResult:
    """A finished run directory, with helpers for Python users."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)

    @property
    def manifest(self) -> dict:
        return orjson.loads((self.dir / "manifest.json").read_bytes())

    def final(self) -> pl.DataFrame:
        return pl.read_parquet(self.dir / "final.parquet")

    def rejected(self) -> pl.DataFrame:
        return pl.read_parquet(self.dir / "rejected.parquet")

    def sql(self, query: str) -> pl.DataFrame:
        from .io.catalog import connect, queries
        return queries(connect(self.dir), query)[-1].pl()

    def __repr__(self) -> str:
        return f"RunResult({str(self.dir)!r})"
