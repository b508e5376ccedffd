"""Loading and running fastText classifiers (language ID, quality scorers) with clear errors.

fastText (`fasttext-numpy2`: the official bindings, rebuilt so `predict` works under numpy 2) is
used because its classifiers score thousands of texts per second per core, which is what a filter
over millions of records needs, and because published scorers (lid.176, DCLM/FineWeb-Edu-style
quality classifiers) ship in its format.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io.files import find_file
from .bundled import LID176, lid176_path


def resolve_path(model: str, base_dir: str | None = None) -> Path:
    if model == LID176:
        return lid176_path()
    path = find_file(model, base_dir)          # as every file a recipe names
    if path is None:
        raise ConfigError(f"fastText model file does not exist: {model}")
    return path


@lru_cache(maxsize=8)
def load(path: Path):
    import fasttext
    fasttext.FastText.eprint = lambda *a, **k: None      # silence the load_model deprecation notice
    try:
        return fasttext.load_model(str(path))
    except ValueError as exc:
        raise ConfigError(f"cannot load fastText model {path}: {exc} (is it a fastText .bin/.ftz file?)") from None


def one_line(texts: list[str]) -> list[str]:
    """fastText predicts one line at a time: newlines become spaces."""
    return [t.replace("\n", " ").replace("\r", " ") for t in texts]


def predict_candidates(model, texts: list[str], k: int) -> list[list[tuple[str, float]]]:
    """The `k` most likely labels (without `__label__`) with their probabilities, per text."""
    labels, probs = model.predict(one_line(texts), k=k)
    return [[(lab.removeprefix("__label__"), float(p)) for lab, p in zip(labs, ps)] or [("", 0.0)]
            for labs, ps in zip(labels, probs)]


def predict_all(model, texts: list[str]) -> dict[str, np.ndarray]:
    """Probability of every label of the model, per text: {label: (n,) float32}."""
    names = [lab.removeprefix("__label__") for lab in model.get_labels()]
    out = {name: np.zeros(len(texts), dtype=np.float32) for name in names}
    labels, probs = model.predict(one_line(texts), k=-1)
    for i, (labs, ps) in enumerate(zip(labels, probs)):
        for lab, p in zip(labs, ps):
            out[lab.removeprefix("__label__")][i] = p
    return out
