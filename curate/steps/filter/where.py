"""`filter.where`: keep records for which a DuckDB SQL boolean expression is true."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ...errors import ConfigError
from ..base import Result, Step, StepConfig, register, split


@register("filter.where")
class WhereFilter(Step):
    """Evaluate `expr` (DuckDB SQL, the same dialect as `curate sql`) on each record; true keeps
    it, false or NULL rejects it with `reason` (default `where_false`) and the expression as detail.
    Any column is usable, including those earlier steps added (score_*, tag_*)."""

    class Config(StepConfig):
        expr: str = Field(description="SQL boolean expression, e.g. length(response) > 20")
        reason: str = Field("where_false", description="ledger reason for rejected records")

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        import duckdb
        self.con = duckdb.connect()

    def apply(self, batch: pl.DataFrame) -> Result:
        import duckdb
        self.con.register("batch", batch.to_arrow())
        try:
            mask = self.con.sql(f"SELECT coalesce(({self.config.expr})::BOOLEAN, false) AS keep FROM batch"
                                ).pl()["keep"]
        except duckdb.Error as exc:
            raise ConfigError(f"filter.where: cannot evaluate expr {self.config.expr!r}: "
                              f"{str(exc).splitlines()[0]}. Columns: {', '.join(batch.columns)}") from None
        finally:
            self.con.unregister("batch")
        return split(batch, mask, self.config.reason, self.config.expr)
