"""`filter.where`: keep records for which a DuckDB SQL boolean expression is true."""

from __future__ import annotations

import polars as pl
from pydantic import Field, field_validator

from ...errors import ConfigError
from ..base import Result, Step, StepConfig, register, split
from ..common.sql import check_expression, expression_query, sandbox_connection


@register("filter.where")
class WhereFilter(Step):
    """Evaluate `expr` (DuckDB SQL, the same dialect as `curate sql`) on each record; true keeps
    it, false or NULL rejects it with `reason` (default `where_false`) and the expression as detail.
    Any column is usable, including those earlier steps added (score_*, tag_*). The expression
    must be one expression: it runs in a sandbox that cannot read or write files, attach
    databases, load extensions or change settings."""

    class Config(StepConfig):
        expr: str = Field(description="SQL boolean expression, e.g. length(response) > 20")
        reason: str = Field("where_false", description="ledger reason for rejected records")

        @field_validator("expr")
        @classmethod
        def _one_expression(cls, v):
            try:
                check_expression(v, "filter.where")
            except ConfigError as exc:           # reported with the recipe's file and line
                raise ValueError(str(exc)) from None
            return v

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.con = sandbox_connection()          # the config validator has checked the expression
        self.query = expression_query(config.expr)

    def apply(self, batch: pl.DataFrame) -> Result:
        import duckdb
        self.con.register("batch", batch.to_arrow())
        try:
            mask = self.con.sql(f"SELECT coalesce(keep::BOOLEAN, false) AS keep FROM ({self.query})").pl()["keep"]
        except duckdb.Error as exc:
            raise ConfigError(f"filter.where: cannot evaluate expr {self.config.expr!r}: "
                              f"{str(exc).splitlines()[0]}. Columns: {', '.join(batch.columns)}") from None
        finally:
            self.con.unregister("batch")
        return split(batch, mask, self.config.reason, self.config.expr)
