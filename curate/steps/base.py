"""What a step is: a typed config and one method, over a batch or over the whole dataset.

The contract, for every step:

- `name` (set by `@register`), a pydantic `Config` (unknown keys are errors), a docstring that is
  its user documentation.
- `scope = "batch"`: `apply(batch) -> Result`. The result may depend only on the batch's rows and
  the config, never on which other rows share the batch or in which order batches come: an
  engine may split the data any way it likes.
- `scope = "dataset"`: `decide(data) -> Decisions`, given a lazy scan of the whole stage input
  with the input order column `_order` (a record's position in the stage input). Every verdict
  is keyed by record (`_order`, `id`); "which copy survives" and "who fills a cap first" are rules
  over `_order`. The engine, not the step, applies the verdicts to batches
  (`decisions.apply_verdicts`), so a partitioned engine reproduces the local result exactly.
- Optional, for a dataset-scope step whose decisions fall within groups of equal keys
  (`dedup.exact`): `group_keys(data)` (a lazy frame of `_order`, id and the key's hash columns
  `_a`, `_b`) and `group_verdicts(keys)` (the verdicts of the records it drops, given whole key
  groups). A partitioned engine then decides it on its workers, each taking whole groups, and
  must get the same verdicts as `decide`. Likewise a step whose costly part is a per-record
  signature (`dedup.near`) offers `signed_rows`, `sign` and `decide_signed`.
- `version`: bump it when the step's output changes for the same input and config (a bug fix, a
  new default, a changed detail text). It is part of the stage fingerprint, so finished stages
  computed by the old code are not reused. A refactor that keeps outputs identical keeps it.
- `files`: the config fields that name files the step reads (a path or glob, a list of them, or
  a mapping whose values are paths). Their contents enter the stage fingerprint, so editing one
  in place recomputes the stage. Relative paths resolve against the working directory, then the
  recipe's folder (`resolve_step_file`), for reading and fingerprinting alike.

Steps never import an engine and never reach into the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Optional

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..ledger import STEP_ROW_SCHEMA, step_rows

if TYPE_CHECKING:
    from .decisions import Decisions


class StepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HowMany(StepConfig):
    """Config part of the selection steps: keep `n` records or a `fraction` of them."""

    n: Optional[int] = Field(None, ge=0, description="records to keep (per group where the step groups)")
    fraction: Optional[float] = Field(None, gt=0, le=1, description="fraction of records to keep")

    @model_validator(mode="after")
    def _one_of_n_or_fraction(self):
        if (self.n is None) == (self.fraction is None):
            raise ValueError("give exactly one of `n` or `fraction`")
        return self

    def count(self, total: int) -> int:
        return self.n if self.n is not None else int(round(total * self.fraction))


@dataclass
class Context:
    """What a step may know about the run: the seed, a folder for caches, the stage number, the
    recipe's folder and batch size (work a dataset-scope step does in blocks uses the same size)."""

    seed: int = 0
    stage: int = 0
    cache_dir: str | None = None   # a folder of this run for indexes and other artifacts
    base_dir: str | None = None    # the recipe's folder, for relative paths in step configs
    batch_size: int = 50_000


@dataclass
class Result:
    """Output of one batch: rows kept, rows rejected (with reason), rows added (with parent_ids).

    `declined` is for steps that add records: ledger rows (the parent's id) for derived records the
    step tried to build and could not, with the reason. The parent itself stays in `kept`; declined
    rows are in the ledger so that nothing a step attempted disappears without a trace."""

    kept: pl.DataFrame
    rejected: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=STEP_ROW_SCHEMA))
    added: pl.DataFrame | None = None
    declined: pl.DataFrame | None = None
    stats: dict[str, int] = field(default_factory=dict)


rejected_rows = step_rows   # the name steps use: ledger rows for records they reject


def split(batch: pl.DataFrame, keep: pl.Series | pl.Expr, reason: str | pl.Expr,
          detail: str | pl.Expr) -> Result:
    """Split a batch by a boolean mask: True rows are kept, the others go to the ledger."""
    mask = keep if isinstance(keep, pl.Series) else batch.select(keep.alias("_keep")).to_series()
    mask = mask.fill_null(False)
    return Result(kept=batch.filter(mask), rejected=rejected_rows(batch.filter(~mask), reason, detail))


def split_by_reason(batch: pl.DataFrame, reason: pl.Expr, detail: pl.Expr) -> Result:
    """Rows where `reason` is null are kept; the others go to the ledger with that reason and detail."""
    frame = batch.with_columns(reason.alias("_reason"), detail.alias("_detail"))
    res = split(frame, pl.col("_reason").is_null(), pl.col("_reason"), pl.col("_detail"))
    res.kept = res.kept.drop("_reason", "_detail")
    return res


class Step:
    """Base class. Subclasses set `Config` and implement `apply` (scope "batch") or `decide`
    (scope "dataset"); see the module docstring for the whole contract."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    scope: ClassVar[str] = "batch"  # or "dataset"
    files: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[StepConfig]] = StepConfig

    def __init__(self, config: StepConfig, ctx: Context):
        self.config = config
        self.ctx = ctx

    def apply(self, batch: pl.DataFrame) -> Result:
        raise NotImplementedError

    def decide(self, data: pl.LazyFrame) -> "Decisions":
        raise NotImplementedError


def resolve_step_file(value: str, base_dir: str | None, where: str) -> list[Path]:
    """The files a path or glob in a step config names: the working directory first, then the
    recipe's folder (as for recipe inputs). A clear error when nothing matches."""
    from ..errors import ConfigError
    from ..io.files import resolve_files, search_roots
    try:
        return resolve_files(str(Path(value).expanduser()), base_dir, where)
    except ConfigError:
        if any(c in value for c in "*?["):
            raise
        looked = " and ".join(map(str, search_roots(base_dir)))
        raise ConfigError(f"{where}: file does not exist: {value} (looked in {looked})") from None


def step_files(cls: type[Step], config: StepConfig, base_dir: str | None, where: str) -> dict[str, list[Path]]:
    """The files each of `cls.files` names in `config`, resolved as the step resolves them
    (bundled models, named `bundled:…`, are part of the installed code and are skipped)."""
    out: dict[str, list[Path]] = {}
    for name in cls.files:
        value = getattr(config, name)
        if value is None:
            values = []
        elif isinstance(value, str):
            values = [value]
        elif isinstance(value, dict):
            values = list(value.values())
        else:
            values = list(value)
        out[name] = [f for v in values if not str(v).startswith("bundled:")
                     for f in resolve_step_file(str(v), base_dir, f"{where}.{name}")]
    return out


REGISTRY: dict[str, type[Step]] = {}


def register(name: str):
    def deco(cls: type[Step]) -> type[Step]:
        cls.name = name
        REGISTRY[name] = cls
        return cls
    return deco
