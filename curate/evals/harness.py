"""`curate eval --harness TASK[,TASK...]`: lm-eval-harness tasks, results as curate's item tables.

lm-eval-harness is the evaluation tool users already run. curate calls its Python API
(`simple_evaluate` with its `hf` model, the adapter passed as `peft=`, so a curate-trained adapter
loads in plain lm-eval exactly as here) and turns its per-item samples (`log_samples`) into the
same `predictions.parquet` + `summary.json` a curate suite writes: one folder per task, so
`curate sql` and the paired bootstrap (`compare.scores_matrix`) read them like any suite's.
`curate compare --harness` runs a task on every trained arm (`measures.HarnessMeasure`).

Tasks come from lm-eval's registry (which downloads their data: online) or from task YAMLs in
`--tasks-dir` (offline over local files; docs/TRAINING.md has one). Prompts go through the model's
chat template (`apply_chat_template`), as curate's own suites do.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import polars as pl

from ..errors import ConfigError

METRICS = ("acc", "exact_match", "acc_norm", "f1", "bleu")


@functools.lru_cache(maxsize=4)
def _task_manager(tasks_dir: str | None):
    """One lm-eval task manager per tasks folder: building one indexes every task (seconds), and
    `curate compare --harness` asks for it once per check and once per trained adapter."""
    try:
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise ConfigError("--harness needs lm-eval-harness: pip install lm-eval") from None
    return TaskManager(include_path=str(tasks_dir)) if tasks_dir else TaskManager()


def harness_tasks(tasks: list[str], tasks_dir: str | None):
    """lm-eval's task manager, after checking every task is known to it."""
    manager = _task_manager(tasks_dir)
    known = set(manager.all_tasks)
    missing = [t for t in tasks if t not in known]
    if missing:
        raise ConfigError(f"lm-eval task(s) {', '.join(missing)} not found"
                          + (f" in lm-eval's registry or {tasks_dir}" if tasks_dir else " in lm-eval's registry")
                          + ": a registry task needs the network for its data; offline, give a task YAML over "
                          "local files with --tasks-dir")
    return manager


def run_harness(model: str, tasks: list[str], out: str | Path, adapter: str | None = None,
                limit: int | None = None, tasks_dir: str | None = None, device: str = "cpu",
                batch_size: int = 8, system: str | None = None) -> dict[str, dict]:
    """Evaluate `model` (+ `adapter`) on lm-eval `tasks`; per task, OUT/<task>/ as `curate eval` writes.
    `system`: a system prompt for every item (lm-eval's `system_instruction`; a task YAML has none)."""
    import lm_eval
    from ..models.lm import auto_device, resolve
    manager = harness_tasks(tasks, tasks_dir)
    device = auto_device(device)
    model_args = f"pretrained={resolve(model)},dtype=float32" + (f",peft={adapter}" if adapter else "")
    result = lm_eval.simple_evaluate(model="hf", model_args=model_args, tasks=tasks, task_manager=manager,
                                     log_samples=True, apply_chat_template=True, limit=limit,
                                     system_instruction=system,
                                     batch_size=batch_size, device=device)
    summaries = {}
    for task, samples in result["samples"].items():
        summaries[task] = write_task(task, samples, Path(out) / task, model, adapter)
    return summaries


def write_task(task: str, samples: list[dict], folder: Path, model: str, adapter: str | None) -> dict:
    metric = next((m for m in METRICS if m in samples[0]), None)
    if metric is None:
        raise ConfigError(f"lm-eval task {task}: no per-item metric curate can pair ({', '.join(METRICS)}); "
                          f"found {sorted(k for k, v in samples[0].items() if isinstance(v, (int, float)))}")
    rows = {"id": [f"{task}:{s['doc_id']}" for s in samples], "origin": [f"lm-eval:{task}[{s['doc_id']}]" for s in samples],
            "group": [task] * len(samples),
            "prompt": [str(s["arguments"][0][0]) if s.get("arguments") else "" for s in samples],
            "prediction": [json.dumps(s.get("filtered_resps"), default=str) for s in samples],
            "answers": [[str(s.get("target"))] for s in samples],
            "score": [float(s[metric]) for s in samples]}
    if metric == "acc" and "acc_norm" in samples[0]:
        rows["acc_norm"] = [float(s["acc_norm"]) for s in samples]
    frame = pl.DataFrame(rows)
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(folder / "predictions.parquet")
    score = round(float(frame["score"].mean()), 4)
    summary = {"suite": f"harness:{task}", "scorer": f"lm-eval {metric}", "model": model, "adapter": adapter,
               "items": frame.height, "score": score, "groups": {task: score}}
    if "acc_norm" in rows:
        summary["acc_norm"] = round(float(frame["acc_norm"].mean()), 4)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
