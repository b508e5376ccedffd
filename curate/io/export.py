"""Export a run in the Hugging Face Hub layout: data/<split>-0000K-of-0000N shards + a dataset card.

`datasets.load_dataset(DIR)` reads the result back (the card's `configs` names the shards), and
`--hub REPO_ID` uploads the same folder with huggingface_hub.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from ..errors import ConfigError, CurateError
from .manifest import funnel_rows, load_manifest
from ..formats.writers import ROW_WRITERS, WRITERS, write_jsonl

SIZE_BUCKETS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_BUCKETS if n < limit), "n>100M")


def export(run_dir: str | Path, to: str | Path, fmt: str = "parquet", split: str = "train",
           hub: str | None = None, license: str | None = None, shard_mb: int = 256) -> Path:
    run_dir, to = Path(run_dir), Path(to)
    if fmt not in WRITERS:
        raise ConfigError(f"--format {fmt}: choose one of {', '.join(WRITERS)}")
    manifest = load_manifest(run_dir)
    source = pq.ParquetFile(run_dir / "final.parquet")
    n_rows = source.metadata.num_rows
    if n_rows == 0:
        raise CurateError(f"{run_dir}: the final dataset has no records, so there is nothing to export "
                          "(`curate show` tells which step rejected them)")
    data_dir = to / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob(f"{split}-*-of-*"):
        old.unlink()
    size = sum(source.metadata.row_group(i).total_byte_size for i in range(source.num_row_groups))
    n_shards = max(1, min(n_rows, math.ceil(size / (shard_mb * 2**20))))
    per_shard = max(1, math.ceil(n_rows / n_shards))
    n_shards = max(1, math.ceil(n_rows / per_shard))  # e.g. 9 rows asked in 4 shards: 3 shards of 3
    ext = "parquet" if fmt == "parquet" else "jsonl"
    shards = [data_dir / f"{split}-{k:05d}-of-{n_shards:05d}.{ext}" for k in range(n_shards)]
    write_shards(source, shards, per_shard, fmt)
    license = license or manifest["recipe"].get("output", {}).get("license") or "unknown"
    (to / "README.md").write_text(dataset_card(manifest, n_rows, source.schema_arrow.names, split, fmt,
                                               license), encoding="utf-8")
    if hub:
        push(to, hub)
    return to


def write_shards(source: pq.ParquetFile, shards: list[Path], per_shard: int, fmt: str) -> None:
    """Stream the final dataset into shards of `per_shard` rows, batch by batch (never all in memory)."""
    import pyarrow as pa
    pending: list[pa.RecordBatch] = []
    held = 0
    shard = iter(shards)

    def flush(rows: list[pa.RecordBatch]) -> None:
        table = pa.Table.from_batches(rows, schema=source.schema_arrow)
        path = next(shard)
        if fmt == "parquet":
            pq.write_table(table, path, compression="zstd")
        else:
            write_jsonl(table.to_pylist(), path, fmt)

    for batch in source.iter_batches(batch_size=min(per_shard, 50_000)):
        while batch.num_rows:
            take = min(batch.num_rows, per_shard - held)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == per_shard:
                flush(pending)
                pending, held = [], 0
    if pending:
        flush(pending)


def dataset_card(manifest: dict, n_rows: int, columns: list[str], split: str, fmt: str, license: str) -> str:
    recipe = manifest["recipe"]
    header = {
        "license": license,
        "task_categories": ["text-generation"],
        "size_categories": [size_category(n_rows)],
        "tags": ["curate", "instruction-tuning", "sft"],
        "pretty_name": recipe["name"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": split, "path": f"data/{split}-*"}]}],
    }
    funnel = ["| # | step | in | kept | rejected | added | top reasons |", "|---|---|---|---|---|---|---|"]
    for r in funnel_rows(manifest):
        funnel.append(f"| {r['stage']} | `{r['step']}` | {r['in']} | {r['kept']} | {r['rejected']} | "
                      f"{r['added']} | {r['top_reasons']} |")
    sources = []
    for inp in manifest.get("inputs", []):
        where = inp["spec"].get("hub") or ", ".join(inp.get("files", [])) or inp["spec"].get("path")
        formats = ", ".join(sorted(set(inp.get("formats", {}).values())))
        sources.append(f"- {where} (format: {formats or 'n/a'}; {inp['taken']} of {inp['seen']} records taken)")
    versions = ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())
    layout = "Parquet" if fmt == "parquet" else f"{fmt} JSONL"
    return f"""---
{yaml.safe_dump(header, sort_keys=False).strip()}
---

# {recipe['name']}

An instruction dataset of {n_rows:,} records built with curate from the recipe below.
Shards are {layout} under `data/`. Load it with:

```python
from datasets import load_dataset
ds = load_dataset("path/or/repo-id", split="{split}")
```

Columns: {", ".join(f"`{c}`" for c in columns)}.

## How it was made

Per-step funnel (every rejected record is in the run's `rejected.parquet` with its reason):

{chr(10).join(funnel)}

Recipe (resolved, with every default):

```yaml
{yaml.safe_dump(recipe, sort_keys=False).strip()}
```

## Provenance

Sources:
{chr(10).join(sources) or "- (none recorded)"}

- Run fingerprint: `{manifest['fingerprint']}`, seed {manifest['seed']}
- Built: {manifest['started']}; exported: {dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
- Versions: {versions}

Check the licenses of the sources above before redistributing this dataset.
"""


def push(folder: Path, repo_id: str) -> None:
    from huggingface_hub import HfApi, get_token
    token = get_token()
    if not token:
        raise ConfigError("--hub needs a Hugging Face token: set HF_TOKEN or run `hf auth login` "
                          f"(the export itself is complete in {folder})")
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset")
    except Exception as exc:  # network and auth errors come in many types
        raise CurateError(f"could not push to the Hub repo '{repo_id}': {str(exc).splitlines()[0]} "
                          f"(the export itself is complete in {folder})") from None


__all__ = ["export", "dataset_card", "ROW_WRITERS"]
