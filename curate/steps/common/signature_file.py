"""MinHash signatures kept on disk, with only their LSH band keys in memory.

A 128-value signature is 512 bytes a record: 2.5 GB at 5M records, the largest thing near dedup
held, and the reason its memory grew with the dataset. LSH needs only one 64-bit key per band
(72 bytes a record at the default 9 bands); the full signatures are needed only to verify the
candidate pairs and to estimate the dropped records' similarity. So signatures are appended to a
file as blocks are signed and read back row by row with `pread`, a chunk of pairs at a time.
Not through a memory map: the kernel maps pages around each one touched, so random rows of a
2.2 GB map (5M records) put nearly all of it in the process's resident memory within one chunk,
madvise(MADV_RANDOM) or not (measured); reading the rows costs ~2 µs each instead.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .minhash import band_keys

CHUNK = 65_536   # pairs read back at once: 2 × 64k × 512 B = 64 MiB


def chunked_similarity(rows_of: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray,
                       after_chunk: Callable[[], None] = lambda: None) -> np.ndarray:
    """The share of equal signature values of rows a[i] and b[i] (the MinHash Jaccard estimate),
    reading `CHUNK` pairs' signatures at a time through `rows_of(row numbers)`."""
    out = np.empty(len(a), dtype=np.float32)
    for start in range(0, len(a), CHUNK):
        end = start + CHUNK
        out[start:end] = (rows_of(a[start:end]) == rows_of(b[start:end])).mean(axis=1)
        after_chunk()
    return out


class SignatureFile:
    """Append blocks of signatures (in row order), then `finish()`; `keys[:, band]` and `has` are
    in memory, `similarity(a, b)` reads signatures back from the file. Use as a context manager:
    the file is removed on exit."""

    def __init__(self, folder: str | Path | None, num_perm: int, bands: int, rows: int):
        folder = Path(folder) if folder else Path(tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        # `.tmp-PID` in the name: a run killed mid-stage has it removed by the next run
        self.path = folder / f"near-signatures-{id(self):x}.u32.tmp-{os.getpid()}"
        self.num_perm, self.bands, self.rows = num_perm, bands, rows
        self._out = open(self.path, "wb")
        self._keys: list[np.ndarray] = []
        self._has: list[np.ndarray] = []
        self._fd: int | None = None
        self.keys = np.zeros((0, bands), dtype=np.uint64)
        self.has = np.zeros(0, dtype=bool)

    def add(self, sig: np.ndarray, has: np.ndarray) -> None:
        """The next block of rows: its signatures go to the file, its band keys stay."""
        sig = np.ascontiguousarray(sig, dtype=np.uint32)
        self._out.write(sig.tobytes())
        self._keys.append(np.stack([band_keys(sig[:, b * self.rows:(b + 1) * self.rows])
                                    for b in range(self.bands)], axis=1) if len(sig) else
                          np.zeros((0, self.bands), dtype=np.uint64))
        self._has.append(np.asarray(has, dtype=bool))

    def finish(self) -> "SignatureFile":
        self._out.close()
        self.keys = np.concatenate(self._keys) if self._keys else self.keys
        self.has = np.concatenate(self._has) if self._has else self.has
        self._keys, self._has = [], []
        self._fd = os.open(self.path, os.O_RDONLY)
        return self

    def __len__(self) -> int:
        return len(self.has)

    def rows_of(self, rows: np.ndarray) -> np.ndarray:
        """The signatures of `rows` (any order, repeats allowed), each row read once."""
        width = self.num_perm * 4
        unique, back = np.unique(rows, return_inverse=True)
        data = b"".join([os.pread(self._fd, width, row * width) for row in unique.tolist()])
        return np.frombuffer(data, dtype=np.uint32).reshape(-1, self.num_perm)[back]

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return chunked_similarity(self.rows_of, a, b)

    def close(self) -> None:
        if not self._out.closed:
            self._out.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "SignatureFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SliceSignatures:
    """Signatures saved one `.npy` file per slice of the stage (by the workers of a partitioned
    engine), read back by row number through memory maps that are let go after each read."""

    def __init__(self, folder: str | Path, parts: list[int], starts: list[int]):
        self.folder = Path(folder)
        self.parts = np.asarray(parts)
        self.starts = np.asarray(starts, dtype=np.int64)   # first row of each part, ascending

    @staticmethod
    def file(folder: str | Path, part: int) -> Path:
        return Path(folder) / f"s{part}.npy"

    def rows_of(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        which = np.searchsorted(self.starts, rows, side="right") - 1
        out = None
        for index in np.unique(which):
            mapped = np.load(self.file(self.folder, int(self.parts[index])), mmap_mode="r")
            here = which == index
            if out is None:
                out = np.empty((len(rows), mapped.shape[1]), dtype=mapped.dtype)
            out[here] = mapped[rows[here] - self.starts[index]]
            del mapped
        return out if out is not None else np.zeros((0, 0), dtype=np.uint32)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return chunked_similarity(self.rows_of, a, b)
