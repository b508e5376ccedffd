"""Reading a Parquet file batch by batch in bounded memory.

pyarrow's `ParquetFile` pre-buffers by default, and `iter_batches` then fetches the column chunks of
every row group it will read up front: reading a 1.3 GB stage file of 5M records that way held
1.5 GB, against 0.43 GB without pre-buffering, which was also faster here (2.9 s against 3.8 s on
a local disk). Every place that streams a stage file, the ledger or an input goes through this.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def streamed(path: str | Path) -> pq.ParquetFile:
    """The file, opened for `iter_batches` without pre-buffering all of it."""
    return pq.ParquetFile(path, pre_buffer=False)
