"""Progress display on stderr (rich), so stdout stays clean for the run directory line."""

from __future__ import annotations

import sys


class Progress:
    """Bars only when stderr is a terminal (logs and CI stay clean); notes whenever enabled."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
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

    def task(self, name: str, total: int | None):
        return self._progress.add_task(name, total=total) if self._progress else None

    def advance(self, task, n: int, description: str | None = None) -> None:
        """Move a bar on; `description` replaces its label (e.g. with the current loss)."""
        if self._progress and task is not None:
            self._progress.update(task, advance=n, **({"description": description} if description else {}))

    def done(self, task) -> None:
        if self._progress and task is not None:
            t = self._progress.tasks[task]
            self._progress.update(task, total=t.completed)

    def note(self, text: str) -> None:
        if self.console:
            self.console.print(f"[dim]{text}[/dim]", soft_wrap=True)
