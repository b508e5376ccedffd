"""What `curate compare` evaluates each trained arm on: a curate suite or an lm-eval-harness task.

Both give a folder with `predictions.parquet` (one row per item, `score` and any continuous
columns) and `summary.json`, so the paired bootstrap treats them alike; each has an identity (what
produced its results) that keys the cache, so a result is reused only when nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..fingerprint import files_fingerprint


@dataclass
class SuiteMeasure:
    suite: str

    @property
    def name(self) -> str:
        return self.suite

    def identity(self) -> list:
        from .identity import suite_identity
        return suite_identity(self.suite)

    def folder(self, result: Path) -> Path:
        return result

    def run(self, model: str, adapter: str, result: Path, limit: Optional[int], batch_size: int, progress: bool):
        from . import run as run_module            # looked up at call time: tests count evaluations
        run_module.evaluate(model, self.suite, result, adapter=adapter, limit=limit, batch_size=batch_size,
                            progress=progress)


@dataclass
class HarnessMeasure:
    task: str
    tasks_dir: Optional[str] = None
    system: Optional[str] = None

    @property
    def name(self) -> str:
        return f"harness:{self.task}"

    def identity(self) -> list:
        """The task's name, the content of the local task YAMLs (and the files they read, when
        they sit in the same folder), and lm-eval's version: its prompts and metrics change with it."""
        from importlib.metadata import version
        files = sorted(p for p in Path(self.tasks_dir).rglob("*") if p.is_file()) if self.tasks_dir else []
        data = sorted({f for y in files if y.suffix in (".yaml", ".yml") for f in _named_files(y)} - set(files))
        return ["harness", self.task, self.system, files_fingerprint(files), files_fingerprint(data),
                version("lm_eval")]

    def folder(self, result: Path) -> Path:
        return result / self.task

    def run(self, model: str, adapter: str, result: Path, limit: Optional[int], batch_size: int, progress: bool):
        from .harness import run_harness
        run_harness(model, [self.task], result, adapter, limit, self.tasks_dir, device="auto", batch_size=batch_size,
                    system=self.system)


def _named_files(task_yaml: Path) -> list[Path]:
    """Local files a task YAML names (its `dataset_kwargs: data_files`, wherever they are): their
    content is the task's data, so it belongs in the identity. lm-eval's own tags (`!function`)
    are read as plain text."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    try:
        tree = yaml.load(task_yaml.read_text(), Loader=Loader)
    except (yaml.YAMLError, UnicodeDecodeError):
        return []
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and len(node) < 4096 and Path(node).is_file():
            found.append(Path(node).resolve())
    return found


def measures(suites: list[str], harness: list[str], tasks_dir: Optional[str], system: Optional[str] = None) -> list:
    """Suites first, then harness tasks; an unknown harness task is an error before training."""
    if harness:
        from .harness import harness_tasks
        harness_tasks(harness, tasks_dir)
    return [SuiteMeasure(s) for s in suites] + [HarnessMeasure(t, tasks_dir, system) for t in harness]
