"""Loading, running and training fastText classifiers (language ID, quality scorers, PreSelect)
with clear errors.

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


def load(path: Path):
    """The classifier in `path`, loaded once per process while the file stays as it is: a model
    trained again into the same file (a rerun, PreSelect's classifier) is loaded again."""
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise ConfigError(f"cannot read fastText model {path}: {exc.strerror}") from None
    return _load(Path(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int, size: int):
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


PARALLEL_MIN = 20_000        # fewer texts: starting worker processes costs more than it saves


def _predict_chunk(path: str, texts: list[str]) -> dict[str, np.ndarray]:
    return predict_all(load(Path(path)), texts)


def predict_many(path: Path, texts: list[str], workers: int | None = None) -> dict[str, np.ndarray]:
    """`predict_all` over many texts, spread over worker processes (fastText's `predict` holds the
    GIL, so threads do not help); few texts, or one core, run here."""
    import os
    from ..workers import shared_pool
    workers = workers or min(os.cpu_count() or 1, 8)
    if len(texts) < PARALLEL_MIN or workers < 2:
        return predict_all(load(Path(path)), texts)
    size = -(-len(texts) // workers)
    parts = list(shared_pool(workers).map(_predict_chunk, [str(path)] * workers, [texts[k:k + size] for k in
                                                                  range(0, len(texts), size)]))
    return {label: np.concatenate([part[label] for part in parts]) for label in parts[0]}


def train_rows(rows: list[str], out: Path, valid_fraction: float = 0.1, epoch: int = 10, lr: float = 0.5,
               word_ngrams: int = 2, dim: int = 64, seed: int = 0) -> dict:
    """Train a supervised classifier on `__label__X text` lines (the first `valid_fraction` held
    out), save it to `out`; return its counts, settings and held-out precision/recall at 1."""
    import tempfile
    n_valid = int(len(rows) * valid_fraction)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file, valid_file = Path(tmp) / "train.txt", Path(tmp) / "valid.txt"
        train_file.write_text("\n".join(rows[n_valid:]) + "\n", encoding="utf-8")
        valid_file.write_text("\n".join(rows[:n_valid]) + "\n", encoding="utf-8")
        buckets = ngram_buckets(rows[n_valid:], word_ngrams)
        settings = dict(epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim, seed=seed, thread=1, verbose=0,
                        bucket=buckets)
        model = _train_in_fresh_process(train_file, Path(tmp) / "model.bin", settings, len(rows) - n_valid)
        report = {"train": len(rows) - n_valid, "valid": n_valid,
                  "params": {"epoch": epoch, "lr": lr, "wordNgrams": word_ngrams, "dim": dim, "seed": seed,
                             "bucket": buckets}}
        if n_valid:
            _, precision, recall = model.test(str(valid_file))
            report["valid_precision_at_1"] = round(precision, 4)
            report["valid_recall_at_1"] = round(recall, 4)
    model.save_model(str(out))
    report["model_bytes"] = out.stat().st_size
    return report


def _train_fresh(train_file: str, out: str, settings: dict) -> None:
    import fasttext
    fasttext.train_supervised(train_file, **settings).save_model(out)


def _train_in_fresh_process(train_file: Path, out: Path, settings: dict, rows: int):
    """Train in a freshly spawned process, always: fastText's supervised training, with one thread
    and a seed, still depends on what ran before it in the same process. A second training of the
    same rows in one process gave a different model (and `select.preselect` kept 32 records in one
    process where a fresh one kept 26), and in a process that has run other native code it can stop
    with "Encountered NaN". A fresh process gives the same model every time, on either engine,
    whatever the caller ran before. NaN there too: the usual cause, too few rows or too high a
    learning rate."""
    from ..workers import process_pool
    with process_pool(1) as pool:
        try:
            pool.submit(_train_fresh, str(train_file), str(out), settings).result()
        except RuntimeError as exc:
            if "NaN" in str(exc):
                raise ConfigError(f"fastText training failed ({exc}) on {rows} training rows at lr "
                                  f"{settings['lr']}: give more rows or a lower lr") from None
            raise ConfigError(f"fastText training failed in its worker process: {exc}") from None
    return load(out)


MAX_BUCKETS = 2_000_000       # fastText's default, which alone makes a 512 MB model at dim 64
MIN_BUCKETS = 10_000


def ngram_buckets(rows: list[str], word_ngrams: int) -> int:
    """Hash buckets for word n-grams sized to the data: four per distinct n-gram (few collisions),
    within fastText's default. With the default, 182 training records made a 512 MB model
    (buckets x dim x 4 bytes); sized to the data it is a few MB."""
    if word_ngrams < 2:
        return MIN_BUCKETS
    seen: set[int] = set()
    for row in rows:
        words = row.split()[1:]                     # the first token is the label
        for n in range(2, word_ngrams + 1):
            seen.update(hash(tuple(words[i:i + n])) for i in range(len(words) - n + 1))
    return int(min(MAX_BUCKETS, max(MIN_BUCKETS, 4 * len(seen))))
