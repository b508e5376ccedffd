"""Where curate keeps what every run shares (converted models, embeddings, file digests):
`$CURATE_CACHE`, else `$XDG_CACHE_HOME/curate`, else `~/.cache/curate`."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("CURATE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "curate")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
