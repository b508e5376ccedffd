"""Export a run in the Hugging Face Hub layout: data/<split>-0000K-of-0000N shards + a dataset card.

`datasets.load_dataset(DIR)` reads the result back (the card's `configs` names the shards), and
`--hub REPO_ID` uploads the same folder with huggingface_hub.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq
import yaml

from ..errors import ConfigError, CurateError, write_error
from ..fingerprint import digest, files_fingerprint
from .llamafactory import FILE, entry, updated_info
from .manifest import funnel_rows, load_manifest
from .parquet_stream import streamed
from ..formats.writers import ROW_WRITERS, WRITERS, write_jsonl

SIZE_BUCKETS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_BUCKETS if n < limit), "n>100M")


SPLIT_NAME = re.compile(r"\w+(\.\w+)*", re.ASCII)   # the Hub's own rule; no '-': shards are <split>-NNNNN-of-NNNNN
# <split>-<content tag>-NNNNN-of-NNNNN.<ext>. The tag (a digest of the shards) is in the card's
# data_files pattern too: the `datasets` cache keys a local folder by its name and card, not by its
# files, so without it a second export to a folder of the same name reloaded the first one's rows.
SHARD = re.compile(r"([^-]+)-(?:([0-9a-f]{8})-)?\d{5}-of-\d{5}\.(?:parquet|jsonl)")
CARD_TAG = "curate"          # a README whose card carries this tag was written by curate
IMAGES = "images"            # the card's plots (funnel, lengths, scores), beside README.md


def export(run_dir: str | Path, to: str | Path, fmt: str = "parquet", split: str = "train",
           hub: str | None = None, license: str | None = None, shard_mb: int = 256, force: bool = False,
           card_images: Callable[[Path, dict, Path], dict[str, Path]] | None = None) -> Path:
    """Write the run's final dataset into `to` in the Hub layout, atomically: everything is written
    beside `to` first and moved in only when complete, so a failure (a full disk, a kill) leaves the
    previous export as it was. Other splits already in `to` stay and are listed in the card.

    `card_images(run_dir, manifest, folder)` draws the plots the card embeds ({caption: png}); the
    CLI passes `curate.explore.run_plots.card_images` (plotting sits above io, so it is handed in)."""
    run_dir, to = Path(run_dir), Path(to)
    if fmt not in WRITERS:
        raise ConfigError(f"--format {fmt}: choose one of {', '.join(WRITERS)}")
    if not SPLIT_NAME.fullmatch(split):
        raise ConfigError(f"--split {split!r}: a split is a name (letters, digits and '_', parts joined by '.'), "
                          "not a path")
    manifest = load_manifest(run_dir)
    source = streamed(run_dir / "final.parquet")
    n_rows = source.metadata.num_rows
    if n_rows == 0:
        raise CurateError(f"{run_dir}: the final dataset has no records, so there is nothing to export "
                          "(`curate show` tells which step rejected them)")
    check_target(to, force)
    size = sum(source.metadata.row_group(i).total_byte_size for i in range(source.num_row_groups))
    n_shards = max(1, min(n_rows, math.ceil(size / (shard_mb * 2**20))))
    per_shard = max(1, math.ceil(n_rows / n_shards))
    n_shards = max(1, math.ceil(n_rows / per_shard))  # e.g. 9 rows asked in 4 shards: 3 shards of 3
    ext = "parquet" if fmt == "parquet" else "jsonl"
    where = to.resolve()            # `--to .` has no name of its own to put the staging folder beside
    staging = where.parent / f".{where.name}.curate-tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "data").mkdir(parents=True)
        shards = [staging / "data" / f"{k:05d}-of-{n_shards:05d}.{ext}" for k in range(n_shards)]
        columns = write_shards(source, shards, per_shard, fmt)
        tag = digest(files_fingerprint(shards))[:8]
        for shard in shards:
            shard.rename(shard.with_name(f"{split}-{tag}-{shard.name}"))
        splits = {split: tag, **{k: v for k, v in existing_splits(to / "data").items() if k != split}}
        has_history = fmt == "parquet" and "history" in source.schema_arrow.names and \
            pq.read_table(run_dir / "final.parquet", columns=["history"])["history"].null_count < n_rows
        info = updated_info(to / FILE, manifest["recipe"]["name"], split,
                            sorted(p.name for p in (staging / "data").iterdir()), len(splits) > 1,
                            entry(fmt, columns, has_history))
        (staging / FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        license = license or manifest["recipe"].get("output", {}).get("license") or "unknown"
        drawn = card_images(run_dir, manifest, staging / IMAGES) if card_images else {}
        images = {caption: path.relative_to(staging).as_posix() for caption, path in drawn.items()}
        (staging / "README.md").write_text(dataset_card(manifest, n_rows, columns, splits, fmt, license, images),
                                           encoding="utf-8")
        swap_in(staging, to, split)
    except OSError as exc:
        raise CurateError(f"{write_error(exc, to)}; the previous export there, if any, is unchanged") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if hub:
        push(to, hub)
    return to


def existing_splits(data: Path) -> dict[str, str | None]:
    """split -> content tag of the shards already in an export's data folder."""
    found = (SHARD.fullmatch(p.name) for p in data.iterdir()) if data.is_dir() else ()
    return {m.group(1): m.group(2) for m in found if m}


def check_target(to: Path, force: bool) -> None:
    """Export only into a new or empty folder, or over an earlier curate export; anything else (a
    folder of the user's own files, their own README) needs `--force`."""
    if force or not to.exists():
        return
    if not to.is_dir():
        raise ConfigError(f"--to {to}: exists and is not a folder")
    readme = to / "README.md"
    ours = readme.is_file() and _is_curate_card(readme)
    if readme.exists() and not ours:
        raise ConfigError(f"--to {to}: holds a README.md that curate did not write; exporting would replace it "
                          "(add --force to overwrite it, or choose another folder)")
    if not ours and any(to.iterdir()):
        raise ConfigError(f"--to {to}: is not empty and holds no earlier curate export "
                          "(add --force to export into it anyway, or choose another folder)")


def _is_curate_card(readme: Path) -> bool:
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---\n"):
        return False
    try:
        header = yaml.safe_load(text[4:text.find("\n---", 4)])
    except yaml.YAMLError:
        return False
    return isinstance(header, dict) and CARD_TAG in (header.get("tags") or [])


def swap_in(staging: Path, to: Path, split: str) -> None:
    """Move the complete new split and card into `to` (renames only: no space needed, nothing
    half-written), then drop the split's old shards that the new ones did not replace."""
    data = to / "data"
    data.mkdir(parents=True, exist_ok=True)
    new = sorted((staging / "data").iterdir())
    old = [p for p in data.iterdir() if (m := SHARD.fullmatch(p.name)) and m.group(1) == split
           and p.name not in {n.name for n in new}]
    images = sorted((staging / IMAGES).glob("*.png"))
    if images:
        (to / IMAGES).mkdir(exist_ok=True)
    for path in new + images + [staging / "README.md", staging / FILE]:
        target = to / path.relative_to(staging)
        if not target.resolve().is_relative_to(to.resolve()):
            raise ConfigError(f"refusing to write {target}: outside the export folder {to}")
        os.replace(path, target)
    for path in old:
        path.unlink()


def write_shards(source: pq.ParquetFile, shards: list[Path], per_shard: int, fmt: str) -> list[str]:
    """Stream the final dataset into shards of `per_shard` rows, batch by batch (never all in
    memory); the columns written (for JSONL formats, the keys of the converted rows)."""
    import pyarrow as pa
    pending: list[pa.RecordBatch] = []
    held = 0
    shard = iter(shards)
    columns: dict[str, None] = dict.fromkeys(source.schema_arrow.names) if fmt == "parquet" else {}

    def flush(rows: list[pa.RecordBatch]) -> None:
        table = pa.Table.from_batches(rows, schema=source.schema_arrow)
        path = next(shard)
        if fmt == "parquet":
            pq.write_table(table, path, compression="zstd")
        else:
            columns.update(dict.fromkeys(write_jsonl(table.to_pylist(), path, fmt)))

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
    return list(columns)


def dataset_card(manifest: dict, n_rows: int, columns: list[str], splits: dict[str, str | None], fmt: str,
                 license: str, images: dict[str, str] | None = None) -> str:
    """The README: Hub metadata (every split in the folder, split -> content tag of its shards),
    how to load it, the funnel (a table and `images`: {caption: relative path}), the resolved
    recipe and provenance. The first split is the one this run was exported as."""
    recipe = manifest["recipe"]
    split = next(iter(splits))
    header = {
        "license": license,
        "task_categories": ["text-generation"],
        "size_categories": [size_category(n_rows)],
        "tags": [CARD_TAG, "instruction-tuning", "sft"],
        "pretty_name": recipe["name"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"data/{s}-{t}-*" if t else f"data/{s}-*"}
                                    for s, t in sorted(splits.items())]}],
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
    lf_note = (" (multi-turn records: LLaMA-Factory reads their history from `--format alpaca`, "
               "`sharegpt` or `messages` exports, not from Parquet)") if fmt == "parquet" and "history" in columns else ""
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

For LLaMA-Factory, `dataset_info.json` in this folder describes it: set `dataset_dir` to this
folder and `dataset: {recipe['name'] if split == "train" else recipe['name'] + "_" + split}`{lf_note}.

## How it was made

Per-step funnel (every rejected record is in the run's `rejected.parquet` with its reason):

{chr(10).join(funnel)}

{chr(10).join(f"![{caption}]({path})" + chr(10) for caption, path in (images or {}).items())}
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
