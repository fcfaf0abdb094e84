"""The embedded indexes return the same top-k as brute force (ties: the earlier stored document first).

Brute force here is an independent computation: a full score vector (float64 for sparse; the
shared MaxSim op over all documents padded together for multi-vector) sorted with
``np.lexsort((rows, -scores))``. Random data is checked for identical ids and scores equal within
1e-5 relative (different GEMM shapes round differently); integer-valued data has exact float
scores, so ties are real ties and their order is checked exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tessera_onnx.index import DenseIndex, MultiVectorIndex, SparseIndex
from tessera_onnx.ops.maxsim import maxsim_scores
from tessera_onnx.sparse_embedding import SparseEmbedding

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` (the real corpus) is a top-level folder, not a package
    sys.path.insert(0, str(ROOT))


def brute_force(
    scores: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[list[int], np.ndarray]:
    rows = np.arange(scores.size) if allowed is None else np.flatnonzero(allowed)
    order = np.lexsort((rows, -scores[rows].astype(np.float64)))[:k]
    return rows[order].tolist(), scores[rows[order]]


def ids_scores(hits) -> tuple[list, np.ndarray]:
    return [h.id for h in hits], np.array([h.score for h in hits])


def random_docs(rng, n, dim, max_tokens=40):
    return [rng.standard_normal((int(rng.integers(1, max_tokens)), dim)).astype(np.float32) for _ in range(n)]


def _sparse_row(rng, vocab, nnz):
    return SparseEmbedding(rng.choice(vocab, nnz, replace=False), rng.random(nnz).astype(np.float32) + 0.01)


def sparse_brute(query: SparseEmbedding, docs) -> tuple[np.ndarray, np.ndarray]:
    qd = query.to_dict()
    scores = np.array([sum(qd.get(t, 0.0) * float(w) for t, w in d.to_dict().items()) for d in docs])
    matched = np.array([bool(set(qd) & set(d.indices.tolist())) for d in docs])
    return scores, matched


# --------------------------------------------------------------------------- dense


@pytest.mark.parametrize("seed", [0, 1])
def test_dense_exact_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3000, 48)).astype(np.float32)
    meta = [{"shard": i % 4} for i in range(3000)]
    index = DenseIndex(48)
    index.add([f"doc{i}" for i in range(3000)], x, meta)
    for _ in range(5):
        q = rng.standard_normal(48).astype(np.float32)
        scores = x @ q
        ids, got = ids_scores(index.search(q, 20))
        want, want_scores = brute_force(scores, 20)
        assert ids == [f"doc{i}" for i in want]
        np.testing.assert_allclose(got, want_scores, rtol=1e-5, atol=1e-5)
        allowed = np.array([m["shard"] in (1, 3) for m in meta])
        ids, _ = ids_scores(index.search(q, 20, filter={"shard": [1, 3]}))
        assert ids == [f"doc{i}" for i in brute_force(scores, 20, allowed)[0]]


def test_dense_ties_rank_earlier_documents_first():
    rng = np.random.default_rng(3)
    base = rng.integers(-3, 4, size=(50, 8)).astype(np.float32)
    x = np.concatenate([base, base, base])  # every score appears three times, exactly
    index = DenseIndex(8)
    index.add(list(range(150)), x)
    q = rng.integers(-2, 3, size=8).astype(np.float32)
    for k in (1, 7, 30, 150):
        ids, got = ids_scores(index.search(q, k))
        want, want_scores = brute_force(x @ q, k)
        assert ids == want
        np.testing.assert_array_equal(got, want_scores)


@pytest.mark.parametrize("compression", ["binary", "ubinary", "int8", "int4"])
def test_dense_two_stage_with_all_candidates_is_exact(compression):
    """With every document a candidate, re-scoring with the stored floats gives the exact ranking."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((400, 32)).astype(np.float32)
    index = DenseIndex(32, compression=compression, rescore_multiplier=400)
    index.add(list(range(400)), x)
    q = rng.standard_normal(32).astype(np.float32)
    ids, got = ids_scores(index.search(q, 10))
    want, want_scores = brute_force(x @ q, 10)
    assert ids == want
    np.testing.assert_allclose(got, want_scores, rtol=1e-5, atol=1e-5)
    assert [h.id for h in index.search(q, 10, exact=True)] == want


@pytest.mark.parametrize("compression", ["binary", "int8"])
def test_dense_two_stage_recall_at_default_multiplier(compression):
    """Default multipliers on clustered data: recall@10 vs exact stays high (not a tautology)."""
    rng = np.random.default_rng(6)
    centers = rng.standard_normal((50, 64))
    x = (centers[rng.integers(0, 50, 5000)] + 0.6 * rng.standard_normal((5000, 64))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = DenseIndex(64, compression=compression)
    index.add(list(range(5000)), x)
    recalls = []
    for _ in range(20):
        q = x[rng.integers(0, 5000)] + 0.1 * rng.standard_normal(64).astype(np.float32)
        want = set(brute_force(x @ q, 10)[0])
        recalls.append(len(want & {h.id for h in index.search(q, 10)}) / 10)
    assert np.mean(recalls) >= 0.9, recalls


@pytest.mark.export
def test_dense_real_vectors(minilm_artifact):
    from benchmarks.real_corpus import build
    from tessera_onnx import Tessera

    model = Tessera(minilm_artifact, threads=2)
    data = build(n_passages=300, n_queries=10, seed=1)
    x = model.encode_documents(data["passages"])
    qs = model.encode_queries(data["queries"])
    index = DenseIndex(model.dimension)
    index.add(list(range(len(x))), x)
    for q in qs:
        ids, got = ids_scores(index.search(q, 10))
        want, want_scores = brute_force(x @ q, 10)
        assert ids == want
        np.testing.assert_allclose(got, want_scores, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- multi-vector


def test_multi_vector_exact_matches_brute_force():
    rng = np.random.default_rng(7)
    docs = random_docs(rng, 500, 16, max_tokens=70)
    docs[10] = np.zeros((0, 16), np.float32)  # a document without tokens scores 0
    meta = [{"even": i % 2 == 0} for i in range(500)]
    index = MultiVectorIndex(16)
    index.add(list(range(500)), docs, meta)
    allowed = np.array([m["even"] for m in meta])
    for _ in range(5):
        q = rng.standard_normal((int(rng.integers(3, 32)), 16)).astype(np.float32)
        scores = maxsim_scores([q], docs)[0]
        ids, got = ids_scores(index.search(q, 15))
        want, want_scores = brute_force(scores, 15)
        assert ids == want
        np.testing.assert_allclose(got, want_scores, rtol=1e-5, atol=1e-5)
        assert [h.id for h in index.search(q, 15, filter={"even": True})] == brute_force(scores, 15, allowed)[
            0
        ]


def test_multi_vector_buckets_bound_padding():
    rng = np.random.default_rng(8)
    docs = random_docs(rng, 400, 8, max_tokens=300)
    index = MultiVectorIndex(8)
    index.add(list(range(400)), docs)
    index.search(docs[0][:4], 3)
    buckets = index._state.derived["buckets"]
    for _, padded, mask in buckets:
        assert padded.shape[1] <= np.ceil(1.25 * mask.sum(axis=1).min())
    assert sum(b[0].size for b in buckets) == 400


def test_multi_vector_ties_with_integer_tokens():
    rng = np.random.default_rng(9)
    base = [rng.integers(-2, 3, size=(int(rng.integers(1, 6)), 4)).astype(np.float32) for _ in range(30)]
    docs = base + base[::-1] + base
    index = MultiVectorIndex(4)
    index.add(list(range(90)), docs)
    q = rng.integers(-2, 3, size=(3, 4)).astype(np.float32)
    for k in (1, 5, 40, 90):
        ids, got = ids_scores(index.search(q, k))
        want, want_scores = brute_force(maxsim_scores([q], docs)[0], k)
        assert ids == want
        np.testing.assert_array_equal(got, want_scores)


@pytest.mark.parametrize("compression", ["binary", "int8", "int4", "pooled"])
def test_multi_vector_first_stages_with_all_candidates_are_exact(compression):
    rng = np.random.default_rng(10)
    docs = random_docs(rng, 120, 16)
    index = MultiVectorIndex(16, compression=compression, rescore_multiplier=120)
    index.add(list(range(120)), docs)
    q = rng.standard_normal((6, 16)).astype(np.float32)
    ids, got = ids_scores(index.search(q, 10))
    want, want_scores = brute_force(maxsim_scores([q], docs)[0], 10)
    assert ids == want
    np.testing.assert_allclose(got, want_scores, rtol=1e-5, atol=1e-5)
    allowed = np.arange(120) % 3 == 0
    flt = lambda m: m["i"] % 3 == 0  # noqa: E731
    index.upsert(list(range(120)), docs, [{"i": i} for i in range(120)])
    assert [h.id for h in index.search(q, 10, filter=flt)] == brute_force(
        maxsim_scores([q], docs)[0], 10, allowed
    )[0]


def test_multi_vector_tiny_colbert(tiny_colbert_pylate_artifact):
    from tessera_onnx import Tessera

    model = Tessera(tiny_colbert_pylate_artifact, threads=1)
    texts = [
        f"document number {i} talks about {w}" for i, w in enumerate(["cats", "dogs", "rivers", "maps"] * 10)
    ]
    docs = model.encode_documents(texts)
    index = MultiVectorIndex(model.dimension)
    index.add(list(range(len(docs))), docs)
    q = model.encode_queries("which document talks about rivers")
    want, _ = brute_force(model.similarity([q], docs)[0], 10)
    assert [h.id for h in index.search(q, 10)] == want


# --------------------------------------------------------------------------- sparse


def test_sparse_exact_matches_brute_force():
    rng = np.random.default_rng(11)
    docs = [_sparse_row(rng, 3000, int(rng.integers(1, 60))) for _ in range(800)]
    index = SparseIndex(3000)
    index.add(list(range(800)), docs, [{"g": i % 5} for i in range(800)])
    for _ in range(5):
        q = _sparse_row(rng, 3000, 25)
        scores, matched = sparse_brute(q, docs)
        ids, got = ids_scores(index.search(q, 25))
        want, want_scores = brute_force(scores, 25, matched)
        assert ids == want
        np.testing.assert_allclose(got, want_scores, rtol=1e-6)
        allowed = matched & (np.arange(800) % 5 == 2)
        assert [h.id for h in index.search(q, 25, filter={"g": 2})] == brute_force(scores, 25, allowed)[0]


def test_sparse_returns_only_matching_documents_and_exact_ties():
    docs = [{1: 1.0, 2: 2.0}, {2: 1.0}, {5: 3.0}, {1: 2.0}, {1: 1.0, 2: 2.0}]
    index = SparseIndex()
    index.add(["a", "b", "c", "d", "e"], docs)
    hits = index.search({1: 1.0, 2: 0.5}, 10)
    assert [(h.id, h.score) for h in hits] == [("a", 2.0), ("d", 2.0), ("e", 2.0), ("b", 0.5)]
    assert index.search({7: 1.0}, 3) == []


@pytest.mark.export
def test_sparse_real_splade(splade_artifact):
    from benchmarks.real_corpus import build
    from tessera_onnx import Tessera

    model = Tessera(splade_artifact, threads=2)
    data = build(n_passages=200, n_queries=8, seed=2)
    docs = model.encode_documents(data["passages"])
    index = SparseIndex(model.dimension)
    index.add(list(range(len(docs))), docs)
    for q in model.encode_queries(data["queries"]):
        scores, matched = sparse_brute(q, docs)
        ids, got = ids_scores(index.search(q, 10))
        want, want_scores = brute_force(scores, 10, matched)
        assert ids == want
        np.testing.assert_allclose(got, want_scores, rtol=1e-5)
