"""Embedder, FAISS index and the semantic steps, with the real bundled model and real FAISS."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curate.errors import ConfigError
from curate.models.embed import Embedder
from curate.models.index import VectorIndex, kmeans
from conftest import ROOT, run_recipe

TEXTS = ["How do I bake bread?", "What is the capital of Italy?", "Explain gravity to a child.",
         "def add(a, b):\n    return a + b", "Translate 'cat' into German.", "", "How do I bake bread?"]


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "emb-cache"


def test_encode_shapes_norms_and_duplicates_once(cache):
    emb = Embedder(cache_folder=cache, backend="fp32")
    vectors = emb.encode(TEXTS)
    assert vectors.shape == (7, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[6])
    assert emb.stats.unique == 6 and emb.stats.computed == 6


def test_matches_sentence_transformers_and_fast_backend_agrees(cache):
    from sentence_transformers import SentenceTransformer
    from curate.models.bundled import minilm_dir
    reference = SentenceTransformer(str(minilm_dir()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = Embedder(cache_folder=cache, backend="fp32").encode(TEXTS)
    assert np.min(np.sum(reference * ours, axis=1)) > 0.9999
    fast = Embedder(cache_folder=cache)          # auto: the fastest backend that passes the quality bar
    assert fast.backend in ("ov-bf16", "bf16", "int8", "fp32")
    got = fast.encode(TEXTS)
    assert np.mean(np.sum(reference * got, axis=1)) >= 0.99


@pytest.mark.parametrize("backend", ["ov-fp32", "ov-bf16"])
def test_openvino_backend_agrees_with_torch_and_exports_once(cache, backend, monkeypatch):
    torch_vectors = Embedder(cache_folder=cache, backend="fp32", cache=False).encode(TEXTS)
    ov_vectors = Embedder(cache_folder=cache, backend=backend, cache=False).encode(TEXTS)
    assert np.min(np.sum(torch_vectors * ov_vectors, axis=1)) > (0.9999 if backend == "ov-fp32" else 0.99)
    assert np.allclose(np.linalg.norm(ov_vectors, axis=1), 1, atol=1e-5)
    exported = list((cache / "openvino").rglob("model.xml"))
    assert len(exported) == 1
    import openvino
    monkeypatch.setattr(openvino, "convert_model", lambda *a, **k: pytest.fail("exported twice"))
    again = Embedder(cache_folder=cache, backend=backend, cache=False).encode(TEXTS)
    assert np.allclose(again, ov_vectors, atol=1e-6)


def test_second_run_hits_the_cache_and_calls_no_model(cache, monkeypatch):
    Embedder(cache_folder=cache, backend="fp32").encode(TEXTS)
    again = Embedder(cache_folder=cache, backend="fp32")
    monkeypatch.setattr(Embedder, "_forward_all", lambda *a, **k: pytest.fail("the model was called"))
    again.encode(TEXTS)
    assert again.stats.computed == 0 and again.stats.cached == 6


def test_cache_never_mixes_models_or_backends(cache, tmp_path):
    import torch
    from sentence_transformers import SentenceTransformer, models
    from curate.models.bundled import minilm_dir
    word = models.Transformer(str(minilm_dir()))
    torch.manual_seed(0)
    with torch.no_grad():  # same architecture and config, other weights: a different model
        for p in word.auto_model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    other_dir = tmp_path / "random-minilm"
    SentenceTransformer(modules=[word, models.Pooling(384), models.Normalize()]).save(str(other_dir))
    base = Embedder(cache_folder=cache, backend="fp32").encode(TEXTS[:3])
    other = Embedder(str(other_dir), cache_folder=cache, backend="fp32").encode(TEXTS[:3])
    assert np.max(np.sum(base * other, axis=1)) < 0.99
    assert len(list(cache.glob("*.sqlite"))) == 2


def test_long_texts_are_truncated_and_counted(cache):
    emb = Embedder(cache_folder=cache, backend="fp32")
    emb.encode(["word " * 1000, "short"])
    assert emb.stats.truncated == 1


def test_bad_inputs(cache):
    with pytest.raises(ConfigError, match="does not exist: ./no/such/model"):
        Embedder("./no/such/model", cache_folder=cache)
    with pytest.raises(ConfigError, match=r"texts\[1\] is int"):
        Embedder(cache_folder=cache, backend="fp32").encode(["ok", 3])
    with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
        Embedder(cache_folder=cache, device="cpu", backend="fp16")


def test_index_search_save_load_and_kmeans(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for kind in ("flat", "ivf", "hnsw"):
        index = VectorIndex(32, kind, device="cpu").add(x)
        sims, ids = index.search(x[:50], 3)
        assert (ids[:, 0] == np.arange(50)).mean() >= (1.0 if kind == "flat" else 0.9)
        path = index.save(tmp_path / f"{kind}.faiss")
        loaded = VectorIndex.load(path)
        assert np.array_equal(loaded.search(x[:50], 3)[1], ids)
    centroids, assign, sims = kmeans(x, 8, seed=0)
    assert centroids.shape == (8, 32) and set(assign) == set(range(8)) and np.all(sims <= 1.0001)


def sample_inputs():
    return [{"path": str(ROOT / "data" / "sample.jsonl"), "source": "sample"}]


@pytest.mark.parametrize("fit_fraction", [1.0, 0.2])
def test_semantic_dedup_keeps_exactly_one_per_paraphrase_group(tmp_path, monkeypatch, fit_fraction):
    """Also when k-means is fitted on a sample of the records (as it is on large sets)."""
    import importlib.util
    import curate.steps.dedup.semantic as semantic
    monkeypatch.setattr(semantic, "FIT_PER_CLUSTER", 10)
    spec = importlib.util.spec_from_file_location("make_sample_data", ROOT / "scripts" / "make_sample_data.py")
    sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sample)
    res = run_recipe(tmp_path, sample_inputs(), [{"use": "dedup.exact"},
                                                 {"use": "dedup.semantic", "with": {
                                                     "threshold": 0.75, "fit_fraction": fit_fraction}}])
    kept = set(res.final()["instruction"].to_list())
    for group in sample.PARAPHRASES:
        assert sum(q in kept for q, _ in group) == 1, group[0][0]
    ledger = res.rejected().filter(pl.col("reason") == "semantic_duplicate")
    assert ledger.height >= 12 and ledger["detail"].str.contains("to kept ").all()
    kept_ids = set(res.final()["id"].to_list())
    twins = ledger["detail"].str.extract(r"to kept (\w+) ").to_list()
    assert set(twins) <= kept_ids


def test_kmeans_sample_depends_on_count_and_seed_only_and_holds_enough_per_cluster():
    from curate.steps.dedup.semantic import FIT_PER_CLUSTER, fit_rows
    a = fit_rows(100_000, 25, 0.1, seed=3)
    assert len(a) == 10_000 and np.all(np.diff(a) > 0) and a[-1] < 100_000
    assert np.array_equal(a, fit_rows(100_000, 25, 0.1, seed=3))
    assert not np.array_equal(a, fit_rows(100_000, 25, 0.1, seed=4))
    assert len(fit_rows(100_000, 100, 0.1, seed=3)) == 100 * FIT_PER_CLUSTER    # floor per cluster
    assert np.array_equal(fit_rows(200, 1, 0.1, seed=3), np.arange(200))      # small sets: every record


def test_semantic_dedup_reuses_given_embeddings(tmp_path, cli):
    res = cli("embed", ROOT / "data" / "sample.jsonl", "--out", tmp_path / "emb.parquet")
    assert res.exit_code == 0, res.output
    emb = pl.read_parquet(tmp_path / "emb.parquet")
    assert emb.columns == ["id", "origin", "embedding"] and emb["embedding"].dtype == pl.Array(pl.Float32, 384)
    run = run_recipe(tmp_path, sample_inputs(), [{"use": "dedup.semantic", "with": {
        "threshold": 0.9, "embeddings": str(tmp_path / "emb.parquet")}}])
    stats = run.manifest["stages"][1]["stats"]
    assert stats["embeddings_reused"] == run.manifest["stages"][1]["in"]
    import shutil
    from curate.errors import ConfigError
    from curate.models.bundled import minilm_dir
    other = tmp_path / "other-model"                      # same architecture, other files: another model
    shutil.copytree(minilm_dir(), other)
    (other / "note.txt").write_text("fine-tuned elsewhere")
    with pytest.raises(ConfigError, match="vectors of two models cannot be mixed"):
        run_recipe(tmp_path / "b", sample_inputs(), [{"use": "dedup.semantic", "with": {
            "threshold": 0.9, "embeddings": str(tmp_path / "emb.parquet"), "model": str(other)}}])


def test_near_filter_drops_planted_eval_items_and_names_them(tmp_path):
    res = run_recipe(tmp_path, sample_inputs(), [{"use": "filter.near", "with": {
        "references": [str(ROOT / "data" / "sample_eval.jsonl")], "field": "instruction", "threshold": 0.8}}])
    ledger = res.rejected()
    assert sorted(ledger["reason"].unique().to_list()) == ["near_reference"]
    read = pl.read_parquet(res.dir / "stages" / "00-read.parquet")
    dropped = set(ledger.join(read, on=["id", "origin"])["instruction"].to_list())
    assert dropped == {"Who wrote the novel Pride and Prejudice?",
                       "What is the boiling point of water at sea level in Celsius?",
                       "How many continents are there on Earth?"}
    assert ledger["detail"].str.contains("sample_eval.jsonl:").all()
    assert list((res.dir / "cache").glob("*references.faiss"))


def test_diverse_selection_and_cluster_tags(tmp_path):
    res = run_recipe(tmp_path, sample_inputs(), [{"use": "select.diverse", "with": {"n": 40}},
                                                 {"use": "tag.cluster", "with": {"clusters": 6}}])
    final = res.final()
    assert final.height == 40
    assert set(final["tag_cluster"].unique().to_list()) <= {str(i) for i in range(6)}
    assert final["score_centroid_distance"].min() >= -1e-6
    kc = run_recipe(tmp_path, sample_inputs(), [{"use": "select.diverse", "with": {"n": 15, "method": "kcenter"}}],
                    name="kc").final()
    rnd = run_recipe(tmp_path, sample_inputs(), [{"use": "select.sample", "with": {"n": 15}}], name="rnd").final()
    assert kc.height == rnd.height == 15

    def closest_pair(frame):  # k-center spreads its picks: its closest pair is farther apart than a random pick's
        from curate.steps.common.embedding import EmbeddingConfig, embed_frame
        x, _ = embed_frame(frame, EmbeddingConfig())
        sims = x @ x.T
        np.fill_diagonal(sims, -1)
        return sims.max()
    assert closest_pair(kc) < closest_pair(rnd)


def test_auto_falls_back_to_torch_when_the_openvino_export_fails(cache, monkeypatch):
    from curate.models import openvino_backend

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operation")
    monkeypatch.setattr(openvino_backend.OpenVINOEncoder, "__init__", broken)
    with pytest.warns(UserWarning, match="OpenVINO export .* failed"):
        emb = Embedder(cache_folder=cache, device="cpu")
        assert emb.backend in ("bf16", "int8", "fp32")
    assert emb.encode(TEXTS[:2]).shape == (2, 384)


def test_vectors_computed_without_remembering_reach_the_cache_only_when_remembered(tmp_path):
    """Semantic dedup embeds its chunks without adding to the cache, so that no chunk reads
    another's fresh vectors (which chunk runs first differs between engines), then adds them."""
    from curate.models.embed_cache import EmbeddingCache
    emb = Embedder(cache_folder=tmp_path, backend="fp32")
    texts = ["a first text to embed", "another, different one", "a first text to embed"]
    vectors = emb.encode(texts, remember=False)
    cache = EmbeddingCache(tmp_path, emb.identity, "cpu-fp32")
    assert len(cache) == 0
    emb.remember(texts, vectors)
    assert len(cache) == 2
    again = Embedder(cache_folder=tmp_path, backend="fp32")
    assert np.array_equal(again.encode(texts), vectors) and again.stats.computed == 0


def test_cluster_tags_are_the_same_from_a_cold_cache_and_from_the_cache_they_filled(tmp_path, monkeypatch):
    """A vector's last bits depend on the other texts of its embedding batch, so a text repeated in
    a later chunk is computed a little differently there; taking its first occurrence's vector
    makes a cold run and a run reading the cache it filled give the same clusters and distances."""
    import random
    import curate.steps.common.chunked_embedding as chunked
    from conftest import write_jsonl
    monkeypatch.setattr(chunked, "EMBED_ROWS", 16)
    salt = random.Random().randrange(10**9)                 # texts the cache cannot hold yet
    rows = [r for r in pl.read_ndjson(ROOT / "data" / "sample.jsonl").to_dicts() if r.get("instruction")][:64]
    for r in rows:
        r["instruction"] = f"{r['instruction']} ({salt})"
    data = write_jsonl(tmp_path / "in.jsonl", rows + rows[::2])  # copies in later chunks than their first
    steps = [{"use": "tag.cluster", "with": {"clusters": 4}}]
    cold = run_recipe(tmp_path / "cold", [{"path": str(data)}], steps)
    warm = run_recipe(tmp_path / "warm", [{"path": str(data)}], steps)
    assert cold.manifest["stages"][1]["stats"]["embed_computed"] > 0
    assert warm.manifest["stages"][1]["stats"]["embed_computed"] == 0
    assert (cold.dir / "final.parquet").read_bytes() == (warm.dir / "final.parquet").read_bytes()
