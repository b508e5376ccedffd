"""Two Ray nodes on this machine, the way a user sets up a cluster (`ray start --head`, then
`ray start --address` on a second node), and `curate run --engine ray --address` against it:
the run uses both nodes (each has one CPU and the run asks for two one-CPU workers) and gives the local engine's files byte for byte. The nodes run in the
foreground (`--block`), so the test stops exactly what it started (`ray stop` would stop every
Ray instance on the machine)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ROOT

pytest.importorskip("ray", reason="the ray engine's tests need Ray: pip install 'curate[ray]'")

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive_nodes(address: str) -> int:
    """Alive nodes as the cluster itself reports them (a separate driver process)."""
    code = (f"import ray; ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False); "
            "print(sum(n['Alive'] for n in ray.nodes()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**cluster_env(), "RAY_AUTH_MODE": "token"})
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0


def cluster_env() -> dict:
    """Token authentication, as Ray's docs advise for any cluster: one token for every node and
    the driver (curate turns token mode on by itself when RAY_AUTH_TOKEN or ~/.ray/auth_token is
    there; the driver here gets only the token, to show that)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    env["RAY_AUTH_TOKEN"] = TOKEN
    return env


TOKEN = uuid.uuid4().hex


@pytest.fixture
def two_nodes(tmp_path):
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {**cluster_env(), "RAY_AUTH_MODE": "token"}
    common = ["--num-cpus", "1", "--block", "--disable-usage-stats", "--include-dashboard=false"]
    logs = [open(tmp_path / f"node{i}.log", "w") for i in range(2)]
    head = subprocess.Popen([str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                             *common], stdout=logs[0], stderr=subprocess.STDOUT, env=env, start_new_session=True)
    nodes = [head]
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        worker = subprocess.Popen([str(RAY), "start", "--address", address, "--node-ip-address", "127.0.0.1",
                                   *[c for c in common if c != "--include-dashboard=false"]],
                                  stdout=logs[1], stderr=subprocess.STDOUT, env=env, start_new_session=True)
        nodes.append(worker)
        while time.time() < deadline and alive_nodes(address) < 2:
            time.sleep(1)
        assert alive_nodes(address) == 2, (tmp_path / "node1.log").read_text()[-2000:]
        yield address
    finally:
        for node in reversed(nodes):
            os.killpg(node.pid, signal.SIGTERM)
        for node in reversed(nodes):
            try:
                node.wait(timeout=10)      # a head drains for up to 30 s otherwise
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
        for log in logs:
            log.close()


@pytest.mark.slow
def test_run_on_two_nodes_matches_local_run(two_nodes, tmp_path):
    env = cluster_env()
    curate = Path(sys.executable).with_name("curate")

    def run(*extra: str) -> Path:
        out = subprocess.run([str(curate), "run", "recipes/quickstart.yaml", "--set", "batch_size=40", "-q",
                              *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        return Path(out.stdout.strip().splitlines()[-1])

    on_cluster = run("--engine", "ray", "--address", two_nodes, "--workers", "2", "--out", str(tmp_path / "ray"))
    local = run("--out", str(tmp_path / "local"))
    for name in ("final.parquet", "rejected.parquet"):
        assert (on_cluster / name).read_bytes() == (local / name).read_bytes(), name
    stages = json.loads((on_cluster / "manifest.json").read_text())["stages"]
    assert [s["kept"] for s in stages] == [s["kept"] for s in json.loads((local / "manifest.json").read_text())["stages"]]
