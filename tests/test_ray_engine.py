"""The Ray engine: every bundled recipe gives the same files as the local engine, a killed worker
is retried without counting its slice twice, a killed driver resumes from finished stages, and
bad addresses or unreadable stage files are clear errors. The cluster is a real Ray instance
started in this process (two CPUs); the two-node test is in test_ray_cluster.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT, alpaca, write_jsonl

ray = pytest.importorskip("ray", reason="the ray engine's tests need Ray: pip install 'curate[ray]'")

from curate import run  # noqa: E402
from curate.errors import ConfigError  # noqa: E402
from curate.recipe import Recipe  # noqa: E402

HELPERS = Path(__file__).parent / "ray_helpers"
BUNDLED = ["quickstart", "clean", "chain", "sequential", "sentiment", "semantic-dedup"]


@pytest.fixture(scope="module")
def engine():
    """A local Ray instance for this module; workers import the test step from ray_helpers."""
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HELPERS), os.environ.get("PYTHONPATH", "")])
    sys.path.insert(0, str(HELPERS))
    import slow_steps  # noqa: F401  (registers test.slow_copy in this process)
    from curate.engines.ray_engine import RayEngine
    eng = RayEngine(workers=2)
    eng.connect()
    yield eng
    ray.shutdown()
    from curate.steps.base import REGISTRY
    for name in ("test.slow_copy", "test.slow_model_copy"):   # other tests list the real steps only
        REGISTRY.pop(name, None)


def files_of(run_dir: Path) -> dict[str, bytes]:
    """Every stage file, the final dataset and the ledger, by name."""
    names = [p for p in sorted((run_dir / "stages").glob("*.parquet"))] + [run_dir / "final.parquet",
                                                                          run_dir / "rejected.parquet"]
    return {p.name: p.read_bytes() for p in names}


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_recipe_gives_identical_files_on_ray(engine, tmp_path, monkeypatch, name):
    """Small batches, so each batch step is spread over many slices and both workers."""
    monkeypatch.chdir(ROOT)
    recipe = Recipe.load(ROOT / "recipes" / f"{name}.yaml", ["batch_size=60"])
    local = run(recipe, out=tmp_path / "local")
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    assert on_ray.manifest["rows"] == local.manifest["rows"]
    assert [s["kept"] for s in on_ray.manifest["stages"]] == [s["kept"] for s in local.manifest["stages"]]
    ours, theirs = files_of(on_ray.dir), files_of(local.dir)
    assert ours.keys() == theirs.keys()
    different = [n for n in ours if ours[n] != theirs[n]]
    assert not different, f"files differ between engines: {different}"


ON_SAMPLE = ["core_pipeline", "exact_dedup", "near_dedup", "semantic_dedup"]     # their inputs: generated, large
ON_SHARED = ["ablate_clean", "first_evidence"]                                     # theirs: ../shared/data


@pytest.mark.slow
@pytest.mark.parametrize("name", ON_SAMPLE + ON_SHARED)
def test_benchmark_recipe_gives_identical_files_on_ray(engine, tmp_path, monkeypatch, name):
    """The benchmark recipes: those over generated records run on the sample data instead; those
    over ../shared/data run on it, small batches spreading every step over both workers."""
    from conftest import SHARED
    monkeypatch.chdir(ROOT)
    path = ROOT / "benchmarks" / f"{name}.yaml"
    overrides = ["batch_size=150"]
    if name in ON_SAMPLE:
        overrides += [f"inputs.0.path={ROOT / 'data' / 'sample.jsonl'}", "inputs.0.format=null"]
    elif not SHARED.is_dir():
        pytest.skip(f"{path.name} reads ../shared/data, which is absent here")
    recipe = Recipe.load(path, overrides)
    local = run(recipe, out=tmp_path / "local")
    assert local.manifest["rows"]["rejected"] > 0
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    assert [s["kept"] for s in on_ray.manifest["stages"]] == [s["kept"] for s in local.manifest["stages"]]
    assert files_of(on_ray.dir) == files_of(local.dir)


LIMITS = [f"inputs.{i}.limit=8" for i in range(4)]
WITH_MODELS = {                          # recipes/ that read ../shared/data and run a model: kept small
    "context": LIMITS + ["steps.4.with.max_tokens=256"],
    "token-clean": ["inputs.0.limit=30", "steps.3.with.warmup.max_tokens=2000", "steps.3.with.max_tokens=256"],
    "preselect": [f"inputs.{i}.limit=50" for i in range(4)] + ["steps.4.with.max_tokens=128"],   # + probes_file
}


def tiny_probes_file(folder: Path) -> Path:
    """A probe family for recipes/preselect.yaml: five tiny random models, scored 0.0 to 0.4."""
    from conftest import make_tiny_llama
    probes = "".join(f"  - {{model: {make_tiny_llama(folder / f'm{k}', seed=10 + k)}, score: {k / 10}}}\n"
                     for k in range(5))
    (folder / "probes.yaml").write_text(f"probes:\n{probes}")
    return folder / "probes.yaml"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WITH_MODELS))
def test_recipe_with_models_gives_identical_files_on_ray(engine, tmp_path, monkeypatch, name):
    """The bundled recipes over ../shared/data whose steps run a language model, on a few records
    per input (preselect with a family of tiny probe models, which score on the workers)."""
    from conftest import SHARED
    if not SHARED.is_dir():
        pytest.skip(f"recipes/{name}.yaml reads ../shared/data, which is absent here")
    monkeypatch.chdir(ROOT)
    overrides = ["batch_size=7"] + WITH_MODELS[name]
    if name == "preselect":
        overrides.append(f"steps.4.with.probes_file={tiny_probes_file(tmp_path)}")
        import curate.steps.score.predictive_strength as strength
        monkeypatch.setattr(strength, "PROBE_ROWS", 40)                 # several chunks per probe
        monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache-local"))  # every loss computed, on each engine
    recipe = Recipe.load(ROOT / "recipes" / f"{name}.yaml", overrides)
    local = run(recipe, out=tmp_path / "local")
    if name == "preselect":
        monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache-ray"))
        monkeypatch.setattr(strength, "load_probe", lambda *a: (_ for _ in ()).throw(
            AssertionError("a probe model loaded on the driver")))
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    assert [s["kept"] for s in on_ray.manifest["stages"]] == [s["kept"] for s in local.manifest["stages"]]
    assert files_of(on_ray.dir) == files_of(local.dir)


def slow_recipe(tmp_path: Path, rows: int, seconds: float, batch_size: int = 50,
                slow: str = "test.slow_copy") -> Recipe:
    data = write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(rows)])
    return Recipe(name="slow", inputs=[{"path": str(data)}], batch_size=batch_size, steps=[
        {"use": "normalize.text"},
        {"use": slow, "with": {"seconds": seconds, "pid_dir": str(tmp_path / "pids")}},
        {"use": "filter.length", "with": {"field": "response", "unit": "words", "min": 2}}])


@pytest.mark.parametrize("slow", ["test.slow_copy", "test.slow_model_copy"])   # a task; an actor of a pool
def test_killed_worker_is_replaced_and_its_slice_counted_once(engine, tmp_path, slow):
    recipe = slow_recipe(tmp_path, rows=400, seconds=1.5, slow=slow)
    pids = tmp_path / "pids"
    killed = []

    def kill_first_worker():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            found = list(pids.glob("*")) if pids.is_dir() else []
            if found:
                pid = int(found[0].name)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.1)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    result = run(recipe, out=tmp_path / "runs", engine="ray", workers=2)
    killer.join()
    assert killed, "no worker ever started the slow step"
    stage = next(s for s in result.manifest["stages"] if s["step"] == slow)
    assert stage["in"] == stage["kept"] == 400
    assert stage["stats"]["batches"] == 8             # 8 slices of 50, each counted once
    final = result.final()
    assert final.height == 400 and final["id"].n_unique() == 400
    assert len(list(pids.glob("*"))) >= 2             # the killed worker's slice ran again elsewhere


def test_killed_driver_resumes_from_finished_stages(engine, tmp_path, monkeypatch):
    """The driver (with its own Ray instance) is killed during the slow stage; the rerun reuses
    the stages before it and ends with the same data as a local run."""
    recipe = slow_recipe(tmp_path, rows=300, seconds=2.0)
    recipe_file = tmp_path / "slow.yaml"
    recipe_file.write_text(recipe.model_dump_json(by_alias=True, exclude_none=True))
    script = ("import slow_steps\nfrom curate import run\n"
              f"run({str(recipe_file)!r}, out={str(tmp_path / 'runs')!r}, engine='ray', workers=2)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HELPERS), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline and not (tmp_path / "pids").is_dir():
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    assert (tmp_path / "pids").is_dir(), "the slow stage never started"
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    run_dir = next((tmp_path / "runs").glob("slow-*"))
    assert not (run_dir / "manifest.json").exists()
    assert not list((run_dir / "stages").glob("02-*.json")), "the killed stage must not look finished"

    resumed = run(recipe_file, out=tmp_path / "runs", engine="ray", workers=2)
    reused = {s["step"]: s["reused"] for s in resumed.manifest["stages"]}
    assert reused == {"read": True, "normalize.text": True, "test.slow_copy": False, "filter.length": False}
    local = run(recipe_file, out=tmp_path / "local")
    assert resumed.final().equals(local.final())
    assert not list(run_dir.rglob("*.tmp-*"))


def test_unreachable_address_is_a_clear_error_within_seconds(engine):
    import socket
    from curate.engines.ray_engine import RayEngine
    with socket.socket() as s:                        # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        RayEngine(address=f"127.0.0.1:{port}").connect()
    assert time.perf_counter() - start < 10
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        RayEngine(address="no-port-here").connect()


def test_stage_file_a_worker_cannot_read_names_path_and_node(engine, tmp_path, monkeypatch):
    """The driver sees the stage file, the workers do not (as on a cluster without shared storage):
    the workers' check comes back as one ConfigError naming the path and the node."""
    import socket
    import pyarrow.parquet as pq
    from curate.engines.parquet_out import ParquetOut
    from curate.steps.base import Context
    from curate.steps.registry import build_config, step_class
    real = tmp_path / "real.parquet"
    pl.DataFrame({"id": ["a", "b"], "instruction": ["x", "y"]}).write_parquet(real)
    missing = tmp_path / "only-on-the-driver.parquet"
    opened = pq.ParquetFile
    monkeypatch.setattr(pq, "ParquetFile", lambda path, *a, **k: opened(real if Path(path) == missing else path))
    step = step_class("normalize.text")(build_config("normalize.text", {}), Context())
    with ParquetOut(tmp_path / "out.parquet") as out, ParquetOut(tmp_path / "rej.parquet") as rej:
        with pytest.raises(ConfigError) as err:
            engine.run_step(step, missing, out, rej, 1, 10)
        out.abort(), rej.abort()
    assert str(missing) in str(err.value) and socket.gethostname() in str(err.value)
    assert "not readable on Ray node" in str(err.value)


def test_cli_runs_on_ray_and_recipe_can_ask_for_it(engine, tmp_path, cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "runs"
    res = cli("run", "recipes/quickstart.yaml", "--engine", "ray", "--workers", "2", "--out", str(out), "-q")
    assert res.exit_code == 0, res.output
    assert pl.read_parquet(next(out.glob("quickstart-*")) / "final.parquet").height == 216
    recipe = Recipe.load(ROOT / "recipes" / "quickstart.yaml", ["engine=ray"])
    assert recipe.engine == "ray"
    from curate.runner import Runner
    assert Runner(recipe, tmp_path / "r2", progress=False).engine.name == "ray"
    res = cli("run", "recipes/quickstart.yaml", "--engine", "spark", "--out", str(out), "-q")
    assert res.exit_code == 2 and "unknown engine 'spark'" in res.output
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = cli("run", "recipes/quickstart.yaml", "--engine", "ray", "--address", f"127.0.0.1:{port}", "--out",
              str(tmp_path / "never"), "-q")
    assert res.exit_code == 2 and "cannot reach the Ray cluster" in res.output
    assert not list((tmp_path / "never").rglob("*.parquet")), "nothing is read before the cluster answers"


def test_exact_dedup_is_decided_on_the_workers_by_hash_partitioning(engine, tmp_path, monkeypatch):
    """Copies spread over every slice; the driver's own `decide` must not run (it would hold a key
    per record); the result is the local engine's, file for file, and no key files are left."""
    from curate.steps.dedup.exact import ExactDedup
    rows = [alpaca(i % 70) for i in range(600)]                  # 530 copies, across every slice
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = Recipe(name="dups", inputs=[{"path": str(data)}], batch_size=45,
                    steps=[{"use": "normalize.text"}, {"use": "dedup.exact"}])
    local = run(recipe, out=tmp_path / "local")

    def not_here(self, data):
        raise AssertionError("dedup.exact decided on the driver")
    monkeypatch.setattr(ExactDedup, "decide", not_here)
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    stage = next(s for s in on_ray.manifest["stages"] if s["step"] == "dedup.exact")
    assert stage["kept"] == 70 and stage["rejected"] == 530
    assert files_of(on_ray.dir) == files_of(local.dir)
    assert not list(on_ray.dir.rglob("*.keys*"))


def test_exact_dedup_without_copies_keeps_everything_on_ray(engine, tmp_path):
    data = write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(120)])
    recipe = Recipe(name="nodups", inputs=[{"path": str(data)}], batch_size=50, steps=[{"use": "dedup.exact"}])
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    assert files_of(on_ray.dir) == files_of(run(recipe, out=tmp_path / "local").dir)
    assert on_ray.manifest["rows"]["final"] == 120


def test_near_dedup_signs_and_bands_on_the_workers_and_matches_local(engine, tmp_path, monkeypatch):
    """MinHash signatures, LSH buckets and pair verification run on the workers; the driver's own
    `decide` (which would shingle every text) and band search must not run; the files are the
    local engine's."""
    import curate.steps.dedup.near as near
    from curate.steps.dedup.near import NearDedup
    rows = []
    for i in range(400):
        base = alpaca(i % 60)
        if i >= 60 and i % 2:                                   # near copies: one word added
            base["output"] += " Indeed."
        rows.append(base)
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = Recipe(name="near", inputs=[{"path": str(data)}], batch_size=45,
                    steps=[{"use": "dedup.near", "with": {"threshold": 0.7}}])
    local = run(recipe, out=tmp_path / "local")
    assert local.manifest["stages"][1]["rejected"] > 300
    monkeypatch.setattr(NearDedup, "decide", lambda self, data: (_ for _ in ()).throw(
        AssertionError("dedup.near signed on the driver")))
    monkeypatch.setattr(near, "near_duplicate_components", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("dedup.near searched the bands on the driver")))
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    assert on_ray.manifest["stages"][1]["stats"] == local.manifest["stages"][1]["stats"]
    assert files_of(on_ray.dir) == files_of(local.dir)
    assert not list(on_ray.dir.rglob("*.signatures*"))


def test_read_stage_parses_jsonl_pieces_on_the_workers(engine, tmp_path, monkeypatch):
    """A JSONL input cut into many pieces is parsed on the workers (the driver's own fast parser
    must not run); a piece with a broken line goes to the driver's per-line reader, which
    quarantines just that line; the files are the local engine's."""
    import curate.io.fast_jsonl as fast_jsonl
    import curate.io.sources as sources
    lines = [orjson_line(alpaca(i)) for i in range(600)]
    lines[333] = b'{"instruction": "cut off", "output": \n'
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(lines))
    monkeypatch.setattr(fast_jsonl, "CHUNK_BYTES", 4096)          # ~40 pieces (read on the driver)
    recipe = Recipe(name="read", inputs=[{"path": str(path), "on_error": "quarantine"}],
                    steps=[{"use": "filter.length", "with": {"min": 3}}])
    local = run(recipe, out=tmp_path / "local")
    assert local.manifest["stages"][0]["rejected"] == 1 and local.manifest["stages"][0]["kept"] == 599
    monkeypatch.setattr(sources, "fast_frame", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("the driver parsed a piece itself")))
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    assert files_of(on_ray.dir) == files_of(local.dir)
    assert on_ray.rejected()["origin"].to_list() == [f"{path.name}:334"]


def test_an_input_the_workers_cannot_read_names_path_and_node(engine, tmp_path, monkeypatch):
    import socket
    import curate.io.fast_jsonl as fast_jsonl
    import curate.engines.ray_engine as ray_engine
    path = write_jsonl(tmp_path / "in.jsonl", [alpaca(i) for i in range(300)])
    monkeypatch.setattr(fast_jsonl, "CHUNK_BYTES", 4096)
    hidden = tmp_path / "elsewhere.jsonl"                     # the workers are told a path they cannot see
    real = ray_engine.RayEngine.parsed_spans
    monkeypatch.setattr(ray_engine.RayEngine, "parsed_spans",
                        lambda self, p, spans, args: real(self, hidden, spans, args))
    recipe = Recipe(name="read", inputs=[{"path": str(path)}], steps=[{"use": "filter.length", "with": {"min": 1}}])
    with pytest.raises(ConfigError) as err:
        run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    assert str(hidden) in str(err.value) and socket.gethostname() in str(err.value)


def orjson_line(record: dict) -> bytes:
    import orjson
    return orjson.dumps(record) + b"\n"


def test_semantic_dedup_embeds_places_and_compares_on_the_workers(engine, tmp_path, monkeypatch):
    """Embeddings (an actor pool), cluster assignment and the per-cluster comparisons run on the
    workers; k-means is fitted on a sample; the driver's own `decide` (which holds a vector per
    record) must not run, and the files are the local engine's, over many chunks and partitions,
    with exact copies in other chunks than their first: both from a cold embedding cache, and
    again once the cache holds every text."""
    import curate.engines.ray_clustered as ray_clustered
    import curate.steps.common.chunked_embedding as chunked
    import curate.steps.dedup.semantic as semantic
    monkeypatch.setattr(chunked, "EMBED_ROWS", 40)                  # ~7 chunks
    monkeypatch.setattr(semantic, "FIT_PER_CLUSTER", 10)            # so the fit sees a sample, not all
    monkeypatch.setattr(ray_clustered, "PARTITION_ROWS", 50)        # 4 partitions, one cluster each
    import random
    salt = random.Random().randrange(10**9)         # texts the embedding cache cannot hold yet
    rows = [r for r in pl.read_ndjson(ROOT / "data" / "sample.jsonl").to_dicts() if r.get("instruction")][:120]
    for r in rows:
        r["instruction"] = f"{r['instruction']} ({salt})"
    rows += rows[::3]                                # exact copies, in other chunks than their first
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = Recipe(name="semantic", inputs=[{"path": str(data)}], batch_size=60,
                    steps=[{"use": "normalize.text"}, {"use": "dedup.semantic", "with": {
                        "threshold": 0.75, "clusters": 4, "fit_fraction": 0.3}}])
    local = run(recipe, out=tmp_path / "local")
    stage = local.manifest["stages"][2]
    assert stage["rejected"] >= 12 and stage["stats"]["clusters"] == 4
    assert stage["stats"]["embed_texts"] == stage["in"]                 # each chunk counted once
    forget_embeddings(local.dir / "stages" / "01-normalize.text.parquet", recipe.steps[1].with_)
    monkeypatch.setattr(semantic.SemanticDedup, "decide", lambda self, data: (_ for _ in ()).throw(
        AssertionError("dedup.semantic embedded on the driver")))
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)

    def counts(stats):
        return {k: v for k, v in stats.items() if not k.startswith("embed_")}
    assert counts(on_ray.manifest["stages"][2]["stats"]) == counts(stage["stats"])
    assert on_ray.manifest["stages"][2]["stats"]["embed_texts"] == stage["in"]
    assert files_of(on_ray.dir) == files_of(local.dir)
    assert not list(on_ray.dir.rglob("*.vectors*"))
    warm = run(recipe, out=tmp_path / "warm", engine="ray", workers=2)    # every vector from the cache now
    assert warm.manifest["stages"][2]["stats"]["embed_computed"] == 0
    assert files_of(warm.dir) == files_of(local.dir)


def test_cluster_tags_and_diverse_selection_embed_on_the_workers(engine, tmp_path, monkeypatch):
    """`tag.cluster` and `select.diverse` (both methods) have their records embedded on the
    workers, in the local engine's chunks, and decide on the driver with those vectors: the
    driver never embeds, and the files are the local engine's, from a cold cache."""
    import curate.steps.common.chunked_embedding as chunked
    monkeypatch.setattr(chunked, "EMBED_ROWS", 40)
    import random
    salt = random.Random().randrange(10**9)
    rows = [r for r in pl.read_ndjson(ROOT / "data" / "sample.jsonl").to_dicts() if r.get("instruction")][:120]
    for r in rows:
        r["instruction"] = f"{r['instruction']} ({salt})"
    rows += rows[::4]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = Recipe(name="embedded", inputs=[{"path": str(data)}], batch_size=60, steps=[
        {"use": "normalize.text"},
        {"use": "tag.cluster", "with": {"clusters": 5}},
        {"use": "select.diverse", "with": {"method": "kcenter", "n": 100, "weight": "score_centroid_distance"}},
        {"use": "select.diverse", "with": {"method": "cluster", "fraction": 0.5}},
        {"use": "select.diverse", "with": {"n": 1000}}])               # wants every record: nothing to embed
    local = run(recipe, out=tmp_path / "local")
    assert [s["kept"] for s in local.manifest["stages"][2:]] == [150, 100, 50, 50]
    forget_embeddings(local.dir / "stages" / "01-normalize.text.parquet", {})
    monkeypatch.setattr(chunked.ChunkedEmbedding, "embedded", lambda self, chunk: (_ for _ in ()).throw(
        AssertionError(f"{self.name} embedded on the driver")))
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)

    def untimed(result):
        return [{k: v for k, v in s["stats"].items() if k != "embed_seconds"} for s in result.manifest["stages"][2:]]
    assert untimed(on_ray) == untimed(local) and untimed(local)[1]["embed_computed"] == 0   # the cache, in the run
    assert files_of(on_ray.dir) == files_of(local.dir)
    assert not list(on_ray.dir.rglob("*.vectors*"))


def test_model_scores_of_dataset_steps_are_computed_on_the_workers(engine, tmp_path, monkeypatch):
    """`score.ifd` and `tag.context_dependency` (both methods) score the local engine's chunks of
    records on the workers (actors loading the model once) and decide on the driver over all the
    scores (the median, the share tagged): the driver loads no model, the files are the local
    engine's."""
    from conftest import make_tiny_llama
    import curate.models.lm as lm
    import curate.steps.common.chunked_scoring as chunked
    monkeypatch.setattr(chunked, "SCORE_ROWS", 30)                   # 4 chunks of the 100 records
    tiny = make_tiny_llama(tmp_path / "tiny")
    rows = [r for r in pl.read_ndjson(ROOT / "data" / "sample.jsonl").to_dicts() if r.get("instruction")][:100]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = Recipe(name="scored", inputs=[{"path": str(data)}], batch_size=40, steps=[
        {"use": "score.ifd", "with": {"model": tiny, "max_tokens": 256}},
        {"use": "tag.context_dependency", "with": {"model": tiny, "max_tokens": 256, "top_fraction": 0.3}},
        {"use": "tag.context_dependency", "with": {"model": tiny, "method": "loss_gain", "threshold": 0.0}}])
    local = run(recipe, out=tmp_path / "local")
    assert local.manifest["stages"][1]["stats"]["scored"] == 100
    monkeypatch.setattr(lm, "load_model", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("a model loaded on the driver")))
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    assert [s["stats"] for s in on_ray.manifest["stages"]] == [s["stats"] for s in local.manifest["stages"]]
    assert files_of(on_ray.dir) == files_of(local.dir)


def test_preselect_trains_on_the_driver_and_its_classifier_scores_the_pool_on_the_workers(
        engine, tmp_path, monkeypatch):
    """`select.preselect`: the driver reads only the scored records and trains the classifier into
    the run folder; the workers score the pool's chunks with it (the driver predicts nothing);
    the driver keeps the top share. Files and stats are the local engine's."""
    import curate.models.fasttext_model as ft
    import curate.steps.select.preselect as preselect
    monkeypatch.setattr(preselect, "CLASSIFY_ROWS", 45)                    # 5 chunks of the 200 records
    strong = [{"instruction": f"Explain step {k} of baking bread with yeast and flour.",
               "output": f"Knead the dough, then let it rise for {k + 1} hours.", "strength": 1.0} for k in range(30)]
    weak = [{"instruction": f"Write noise {k}.", "output": f"zzz qqq {k} xxx", "strength": 0.1} for k in range(30)]
    write_jsonl(tmp_path / "scored.jsonl", [r for pair in zip(strong, weak) for r in pair])
    write_jsonl(tmp_path / "pool.jsonl", [alpaca(i) if i % 2 else {"instruction": f"How long does dough {i} rise?",
                                                                  "output": "Bake bread with yeast."}
                                          for i in range(140)])
    recipe = Recipe(name="preselect", batch_size=40, inputs=[
        {"path": str(tmp_path / "scored.jsonl"), "keep": ["strength"]}, {"path": str(tmp_path / "pool.jsonl")}],
        steps=[{"use": "select.preselect", "with": {"strength": "strength", "min_positives": 10, "fraction": 0.3,
                                                    "epoch": 25, "lr": 0.5}}])
    local = run(recipe, out=tmp_path / "local")
    monkeypatch.setattr(ft, "predict_many", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("the driver scored records with the classifier")))
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    stats = [dict(result.manifest["stages"][1]["stats"]) for result in (local, on_ray)]
    assert stats[0].pop("classifier") != stats[1].pop("classifier")            # each run's own folder
    assert stats[0] == stats[1] and stats[0]["positives"] == 30 and stats[0]["kept"] == 60
    assert Path(on_ray.manifest["stages"][1]["stats"]["classifier"]).is_file()
    assert files_of(on_ray.dir) == files_of(local.dir)
    kept = pl.read_parquet(local.dir / "final.parquet")
    assert kept.filter(pl.col("instruction").str.contains("bread|dough")).height >= 50   # it learned something


def forget_embeddings(stage: Path, config: dict) -> None:
    """Take a stage's texts out of the embedding cache, so the next run starts as cold as the last."""
    from curate.models.embed_cache import EmbeddingCache, text_key
    from curate.steps import build_config
    from curate.steps.common.embedding import embedded_texts, make_embedder
    cfg = build_config("dedup.semantic", config)
    embedder = make_embedder(cfg)
    cache = EmbeddingCache(embedder.cache_folder, embedder.identity, f"cpu-{embedder.backend}")
    with cache.con:
        cache.con.executemany("DELETE FROM emb WHERE k = ?",
                              [(text_key(t),) for t in set(embedded_texts(pl.read_parquet(stage), cfg))])


SELECTIONS = [
    {"use": "select.top", "with": {"column": "score", "n": 7}},
    {"use": "select.top", "with": {"column": "score", "fraction": 0.35, "ascending": True}},
    {"use": "select.top", "with": {"column": "score", "char_fraction": 0.5, "char_field": "response"}},
    {"use": "select.top", "with": {"column": "score", "min": 6}},
    {"use": "select.top", "with": {"column": "score", "n": 0}},
    {"use": "select.sample", "with": {"fraction": 0.3, "by": "source"}},
    {"use": "select.sample", "with": {"n": 100}},
    {"use": "select.mix", "with": {"ratios": {"a": 0.6, "b": 0.4}}},
    {"use": "select.mix", "with": {"ratios": {"b": 1}, "total": 120}},
]


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: f"{s['use']}-{'-'.join(map(str, s['with']))}")
def test_selection_cutoffs_are_found_on_the_workers_and_match_local(engine, tmp_path, monkeypatch, selection):
    """Top-k and sampling thresholds come from the workers' summaries (the driver's own `decide`,
    which gathers the ranking column, must not run); scores tie and some are missing; the files
    and stats are the local engine's."""
    from curate.steps.select.mix import Mix
    from curate.steps.select.sample import Sample
    from curate.steps.select.top import TopSelect
    rows = [alpaca(i, score=None if i % 17 == 0 else (i * 37) % 11) for i in range(600)]
    for i in range(0, 600, 3):
        rows[i]["output"] += " " + "and more " * (i % 7)                  # responses of several lengths
    write_jsonl(tmp_path / "a.jsonl", rows[:250])
    write_jsonl(tmp_path / "b.jsonl", rows[250:])
    recipe = Recipe(name="select", batch_size=45, steps=[selection], inputs=[
        {"path": str(tmp_path / "a.jsonl"), "source": "a", "keep": ["score"]},
        {"path": str(tmp_path / "b.jsonl"), "source": "b", "keep": ["score"]}])
    local = run(recipe, out=tmp_path / "local")
    assert local.manifest["stages"][1]["rejected"] > 0
    for cls in (Mix, Sample, TopSelect):
        monkeypatch.setattr(cls, "decide", lambda self, data: (_ for _ in ()).throw(
            AssertionError("the selection gathered its ranking column on the driver")))
    on_ray = run(recipe, out=tmp_path / "ray", engine="ray", workers=2)
    assert on_ray.manifest["stages"][1]["stats"] == local.manifest["stages"][1]["stats"]
    assert files_of(on_ray.dir) == files_of(local.dir)
