"""`InputSpec`: one source of records as a recipe, a reference set or an eval suite names it.

It lives with the readers (not with the recipe) because everything that reads records takes one:
recipe inputs, the reference files of `filter.decontaminate` / `filter.near`, eval suites and the
commands that take DATA.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


class InputSpec(BaseModel):
    """One source of records: local files (a path or glob) or a Hugging Face Hub dataset."""

    model_config = ConfigDict(extra="forbid")
    path: Optional[str] = Field(None, description="file or glob (relative to the working directory, "
                                                  "then to the recipe's folder)")
    hub: Optional[str] = Field(None, description="Hugging Face Hub dataset id (needs network)")
    subset: Optional[str] = Field(None, description="Hub dataset configuration name")
    split: str = Field("train", description="Hub split")
    format: Optional[str] = Field(None, description="reader format; auto-detected when absent")
    fields: dict[str, Union[str, int, None]] = Field(
        default_factory=dict, description="canonical field -> raw field (an index for header-less CSV)")
    source: Optional[str] = Field(None, description="`source` label; default: file stem or hub id")
    task: Optional[str] = Field(None, description="`task` label; default: from the data, else empty")
    limit: Optional[int] = Field(None, ge=1, description="take only the first N records")
    sample: Optional[float] = Field(None, gt=0, description="random subset: a fraction (<1) or a count (>=1)")
    header: bool = Field(True, description="CSV/TSV: first row is a header")
    keep: list[str] = Field(default_factory=list, description="extra raw fields to keep as columns")
    on_error: Literal["stop", "quarantine"] = Field(
        "stop", description="bad rows: stop with an error, or put them in the rejected ledger")
    max_bad_share: float = Field(0.5, ge=0, le=1, description="quarantine: stop when more than this share "
                                                              "of a file's rows is bad (a wrong file, not dirty data)")

    @model_validator(mode="after")
    def _one_location(self) -> "InputSpec":
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of `path` or `hub`")
        return self
