"""Which machine a measurement was taken on, and what its CPU does fast.

Timings (the embedding backend, the training precision) are chosen by measuring on the machine
where the code runs, never from a CPU model name: one of our machines multiplies bf16 matrices
four times faster than fp32, another (AVX2 only) slower. A measurement is kept in the user cache
under the machine's identity, so it is taken once per machine and never reused on another.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from ..user_cache import cache_dir

BF16_PAYS_OFF = 1.5        # bf16 is used when its matmuls are at least this much faster than fp32


def machine_identity() -> str:
    """The CPU model and core count: timings recorded on one machine are not reused on another."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    except OSError:
        import platform
        name = platform.processor()
    return f"{name or 'cpu'} x{os.cpu_count()}"


def _best_seconds(fn, repeats: int) -> float:
    fn()                                   # the first call builds the kernel; not timed
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_cpu_bf16(repeats: int = 5) -> float:
    """How many times faster this CPU runs a transformer-sized matmul under bf16 autocast (the
    cast of the fp32 weight included, as in training) than in fp32: the product of 2,048 tokens'
    576-wide activations with a 576 x 1,536 projection, best of `repeats`."""
    import torch
    a, w = torch.randn(2048, 576), torch.randn(1536, 576)
    fp32 = _best_seconds(lambda: torch.nn.functional.linear(a, w), repeats)

    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.functional.linear(a, w)
    return fp32 / _best_seconds(bf16, repeats)


def kept_measurement(path: Path, key: str, measure: Callable[[], Any]) -> Any:
    """`measure()` taken once per `key` and kept in the JSON file `path` (written whole through a
    temporary file, so a killed process leaves the old file, never half of one)."""
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = measure()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
        tmp.replace(path)
    return known[key]


def cpu_bf16_speedup() -> float:
    """`measure_cpu_bf16` on this machine, measured once and kept (per machine, torch version and
    thread count) in the user cache."""
    import torch
    key = f"{machine_identity()} torch {torch.__version__} threads {torch.get_num_threads()}"
    return kept_measurement(cache_dir() / "machine" / "cpu_bf16.json", key, lambda: round(measure_cpu_bf16(), 3))


def training_dtype(requested: str, device: str) -> str:
    """The precision `auto` means for training on `device`: bf16 on CUDA; on a CPU, bf16 autocast
    where this CPU's bf16 matmuls measure at least `BF16_PAYS_OFF` times fp32's, else fp32."""
    if requested != "auto":
        return requested
    if device.startswith("cuda"):
        return "bf16"
    if device != "cpu":
        return "fp32"
    return "bf16" if cpu_bf16_speedup() >= BF16_PAYS_OFF else "fp32"
