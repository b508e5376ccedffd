"""A finished run's manifest, and the funnel rows (per stage: in / kept / rejected / added, top
reasons) that `curate show` prints and `curate export` writes into the dataset card."""

from __future__ import annotations

from pathlib import Path

import orjson

from ..errors import ConfigError


def load_manifest(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a finished curate run (no manifest.json)")
    return orjson.loads(path.read_bytes())


def funnel_rows(manifest: dict, top: int = 3) -> list[dict]:
    rows = []
    for st in manifest["stages"]:
        reasons = list(st.get("reasons", {}).items())[:top]
        rows.append({"stage": st["index"], "step": st["step"], "in": st["in"], "kept": st["kept"],
                     "rejected": st["rejected"], "added": st["added"],
                     "declined": st.get("declined", 0), "seconds": st["seconds"],
                     "reused": st.get("reused", False),
                     "top_reasons": ", ".join(f"{r} ({n})" for r, n in reasons)})
    return rows
