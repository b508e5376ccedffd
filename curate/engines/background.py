"""Overlap a stage's reading, computing and writing: one thread reads ahead, one thread writes.

Parquet decompression, a step's polars work and Parquet compression all run in native code that
releases the GIL, so on a machine with two or more cores they can run at the same time. Done one
after the other, a cheap step (a length filter) spends two thirds of its stage in reading and
writing. Both helpers keep only a couple of batches in flight, so memory stays bounded.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()
DEPTH = 2  # batches in flight per helper: enough to overlap, little enough to keep memory flat


def prefetched(items: Iterator[T], depth: int = DEPTH) -> Iterator[T]:
    """The items of `items`, produced by a thread that stays up to `depth` items ahead.

    An error in the producer is raised here, at the item where it happened. Closing this generator
    early (a step failed) stops the producer at its next item."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(buffer, (item, None), stop):
                    return
            _put(buffer, (_DONE, None), stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _put(buffer, (_DONE, exc), stop)

    thread = threading.Thread(target=produce, name="curate-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _put(buffer: queue.Queue, entry: tuple, stop: threading.Event) -> bool:
    """Put unless the consumer has gone; False when it has."""
    while not stop.is_set():
        try:
            buffer.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class BackgroundWriter:
    """Runs `write(item)` for each submitted item on one thread, in submission order.

    The first error is raised by the next `submit` or by `finish`; after it, items are dropped."""

    def __init__(self, write: Callable[[object], None], name: str, depth: int = DEPTH):
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._drain, name=f"curate-write-{name}", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _DONE:
                    return
                if self._error is None and not self._cancelled:
                    self._write(item)
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()

    def submit(self, item: object) -> None:
        self._raise()
        self._queue.put(item)

    def wait(self) -> None:
        """Wait until everything submitted so far is written (the thread stays for more); raise
        the first error, if any."""
        self._queue.join()
        self._raise()

    def finish(self) -> None:
        """Wait until everything submitted is written; raise the first error, if any."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        self._raise()

    def cancel(self) -> None:
        """Drop what is still queued and stop the thread (the output is being thrown away)."""
        self._cancelled = True
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
