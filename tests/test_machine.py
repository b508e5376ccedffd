"""The training precision `auto` picks on a CPU: measured on the machine, kept per machine."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize("speedup, expected", [(0.6, "fp32"), (1.2, "fp32"), (4.0, "bf16")])
def test_auto_precision_follows_the_measured_bf16_speedup(monkeypatch, tmp_path, speedup, expected):
    import curate.models.machine as machine
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(machine, "measure_cpu_bf16", lambda: calls.append(1) or speedup)
    assert machine.training_dtype("auto", "cpu") == expected
    assert machine.training_dtype("auto", "cpu") == expected and len(calls) == 1     # measured once
    kept = json.loads((tmp_path / "machine" / "cpu_bf16.json").read_text())
    assert list(kept.values()) == [speedup] and machine.machine_identity() in next(iter(kept))
    assert machine.training_dtype("auto", "cuda") == "bf16" and machine.training_dtype("fp32", "cpu") == "fp32"


def test_the_measurement_times_real_matmuls():
    from curate.models.machine import measure_cpu_bf16
    assert measure_cpu_bf16(repeats=2) > 0
