"""Progress display on stderr (rich), so stdout stays clean for the run directory line."""

from __future__ import annotations

import sys
import time

PIPED_EVERY_S = 30.0


class Progress:
    """Bars when stderr is a terminal; when it is piped (a log file, CI, `| tee`), one plain line
    per task at most every 30 s and when it ends, so long work still shows it is moving without
    filling a log with redraws. Notes whenever enabled."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
        self._piped: dict | None = {} if enabled and not self.enabled else None
        self._progress = None
        self.console = None
        if enabled:
            from rich.console import Console
            self.console = Console(stderr=True)
        if self.enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                       TextColumn, TimeElapsedColumn)
            self._progress = RichProgress(TextColumn("{task.description:<24}"), BarColumn(),
                                          MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                                          transient=False)

    def __enter__(self):
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc):
        if self._progress:
            self._progress.stop()
        for task in list(self._piped or {}):
            self._piped_line(task, final=True)

    def task(self, name: str, total: int | None):
        if self._piped is not None:
            now = time.monotonic()
            task = len(self._piped)
            self._piped[task] = {"name": name, "total": total, "done": 0, "start": now, "printed": now,
                                 "ended": False}
            return task
        return self._progress.add_task(name, total=total) if self._progress else None

    def advance(self, task, n: int, description: str | None = None) -> None:
        """Move a bar on; `description` replaces its label (e.g. with the current loss)."""
        if self._progress and task is not None:
            self._progress.update(task, advance=n, **({"description": description} if description else {}))
        elif self._piped is not None and task in self._piped:
            state = self._piped[task]
            state["done"] += n
            if description:
                state["name"] = description
            if time.monotonic() - state["printed"] >= PIPED_EVERY_S:
                self._piped_line(task)

    def done(self, task) -> None:
        if self._progress and task is not None:
            t = self._progress.tasks[task]
            self._progress.update(task, total=t.completed)
        elif self._piped is not None and task in self._piped:
            self._piped_line(task, final=True)

    def _piped_line(self, task, final: bool = False) -> None:
        state = self._piped[task]
        if state["ended"]:
            return
        now = time.monotonic()
        state["printed"], state["ended"] = now, final
        total = state["total"]
        share = f" ({state['done'] / total:.0%})" if total else ""
        count = f"{state['done']:,}/{total:,}" if total else f"{state['done']:,}"
        finished = final and (total is None or state["done"] >= total)
        self.console.print(f"{state['name']}: {count}{share}, {now - state['start']:.0f} s"
                           f"{' done' if finished else ''}", soft_wrap=True, highlight=False, markup=False)

    def note(self, text: str) -> None:
        if self.console:
            self.console.print(f"[dim]{text}[/dim]", soft_wrap=True)
