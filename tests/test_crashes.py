"""Nothing lost, nothing left behind: killed runs, two runs at once, a full disk, and every mistake a
user can make ending in one `error:` line with exit 2 (usage, config) or 1 (runtime), never a traceback.

These run the real `curate` executable in a subprocess, as a user or a script calls it.
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import alpaca, write_jsonl

CURATE = str(Path(sys.executable).parent / "curate")


def curate(*args, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([CURATE, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


def recipe(tmp_path: Path, steps: list[dict], data: str = "in.jsonl", name: str = "r", **extra) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "inputs": [{"path": data}], "steps": steps, **extra}))
    return path


def assert_clean_error(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def random_rows(n: int, width: int = 300, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    letters = string.ascii_letters + string.digits
    return [{"instruction": f"Q{i} " + "".join(rng.choices(letters, k=width)),
             "output": "".join(rng.choices(letters, k=width))} for i in range(n)]


# -- killed runs leave no process behind ----------------------------------------------------------

def session_processes(sid: int) -> list[int]:
    """Pids of live processes in session `sid` (the run and anything it started)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the run's processes")
def test_a_killed_run_leaves_no_worker_behind(tmp_path):
    from curate.steps.normalize.text import PARALLEL_MIN
    if (os.cpu_count() or 1) < 2:
        pytest.skip("normalize.text uses worker processes only with 2 or more cores")
    rows = [{"instruction": f"Caf\u00c3\u00a9 question {i} na\u00efve " * 4, "output": f"r\u00e9ponse {i} &amp; x"}
            for i in range(PARALLEL_MIN * 40)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    path = recipe(tmp_path, [{"use": "normalize.text"}])
    run = subprocess.Popen([CURATE, "run", str(path), "-q"], cwd=tmp_path, start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 90
    while len(session_processes(run.pid)) < 3 and time.time() < deadline and run.poll() is None:
        time.sleep(0.2)                           # wait until the workers are up and busy
    assert len(session_processes(run.pid)) >= 3, "normalize.text started no workers"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.time() + 5
    while session_processes(run.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert session_processes(run.pid) == [], "processes of the killed run live on"
    run.stdout.read()                             # the pipes close: nothing holds them open


# -- two runs of one recipe ------------------------------------------------------------------------

def test_fresh_run_waits_for_a_live_run_instead_of_deleting_its_files(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(30)])
    path = recipe(tmp_path, [{"use": "dedup.exact"}])
    first = curate("run", path, "-q", cwd=tmp_path)
    run_dir = tmp_path / first.stdout.strip()
    live_tmp = run_dir / "stages" / f"01-dedup.exact.parquet.tmp-{os.getpid()}"
    with open(run_dir / "run.lock", "a+") as lock:       # this test is "the other run", mid-write
        fcntl.flock(lock, fcntl.LOCK_EX)
        live_tmp.write_bytes(b"being written")
        second = subprocess.Popen([CURATE, "run", str(path), "--fresh"], cwd=tmp_path, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3)
        assert second.poll() is None, "the second run did not wait"
        assert live_tmp.read_bytes() == b"being written"
        live_tmp.unlink()
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "waiting for the other run" in err and out.strip().endswith(first.stdout.strip())


def test_a_fully_reused_run_leaves_no_temporary_file(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(30)])
    path = recipe(tmp_path, [{"use": "dedup.exact"}])
    for _ in range(3):
        result = curate("run", path, "-q", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    run_dir = tmp_path / result.stdout.strip()
    assert list(run_dir.rglob("*.tmp-*")) == []


# -- a full disk -------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs, where this machine lets the test mount one (root, or a user namespace)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True,
                              text=True)
    except FileNotFoundError:
        pytest.skip("no `mount` command: the disk-full tests need a small tmpfs")
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): the disk-full tests need root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_run_on_a_full_disk_says_so_and_leaves_nothing_half_written(tmp_path, small_disk):
    write_jsonl(tmp_path / "in.jsonl", random_rows(8000))
    result = curate("run", recipe(tmp_path, []), "-q", "--out", small_disk / "runs", cwd=tmp_path)
    assert_clean_error(result, 1, "disk is full", str(small_disk / "runs"))
    assert list(small_disk.rglob("*.tmp-*")) == [] and list(small_disk.rglob("*.parquet")) == []


def test_a_failed_export_leaves_the_previous_export_intact(tmp_path, small_disk):
    write_jsonl(tmp_path / "small.jsonl", [alpaca(i) for i in range(20)])
    write_jsonl(tmp_path / "big.jsonl", random_rows(8000))
    small = curate("run", recipe(tmp_path, [], "small.jsonl", "small"), "-q", cwd=tmp_path).stdout.strip()
    big = curate("run", recipe(tmp_path, [], "big.jsonl", "big"), "-q", cwd=tmp_path).stdout.strip()
    target = small_disk / "ds"
    for fmt in ("parquet", "alpaca"):
        assert curate("export", small, "--to", target, "--format", fmt, cwd=tmp_path).returncode == 0
        before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
        result = curate("export", big, "--to", target, "--format", fmt, cwd=tmp_path)
        assert_clean_error(result, 1, "disk is full", "previous export there, if any, is unchanged")
        assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
        assert sorted(p.name for p in small_disk.iterdir()) == ["ds"], "staging files left behind"


# -- every user mistake: an error line, the right exit code, no traceback ----------------------------

@pytest.mark.parametrize("args,code,needle", [
    (["--set", "x=[1"], 2, "--set 'x=[1': the value is not valid YAML"),
    (["--set", "seed=99999999999999999999999"], 2, "seed: Input should be less than"),
    (["--set", "seed=-3"], 2, "seed: Input should be greater than or equal to 0"),
    (["--set", "steps.7.use=x"], 2, "not an index"),
    (["--out", "afile/runs"], 2, "cannot write afile/runs"),
    (["--out", "/proc/curate-test"], 2, "cannot write /proc/curate-test"),
])
def test_run_mistakes_end_in_one_error_line(tmp_path, args, code, needle):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(5)])
    (tmp_path / "afile").write_text("a file, not a folder")
    assert_clean_error(curate("run", recipe(tmp_path, []), "-q", *args, cwd=tmp_path), code, needle)


def test_a_recipe_that_is_not_utf8(tmp_path):
    (tmp_path / "r.yaml").write_bytes(b"name: r\ninputs: [{path: in.jsonl}]\nsteps: []  # caf\xe9\n")
    assert_clean_error(curate("run", "r.yaml", cwd=tmp_path), 2, "r.yaml:3: not valid UTF-8 (byte 0xe9)")


def test_a_truncated_last_jsonl_line_is_named_as_such(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(5)])
    data = (tmp_path / "in.jsonl").read_bytes()
    (tmp_path / "in.jsonl").write_bytes(data[: len(data) - 20])      # cut inside the last record
    result = curate("run", recipe(tmp_path, []), cwd=tmp_path)
    assert_clean_error(result, 1, "in.jsonl:5: the file ends in the middle of a record")
    assert "control character" not in result.stderr


def test_a_jsonl_file_without_final_newline_reads_every_record(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(5)])
    data = (tmp_path / "in.jsonl").read_bytes()
    (tmp_path / "in.jsonl").write_bytes(data.rstrip(b"\n"))
    result = curate("run", recipe(tmp_path, []), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import polars as pl
    assert pl.read_parquet(tmp_path / result.stdout.strip() / "final.parquet").height == 5
