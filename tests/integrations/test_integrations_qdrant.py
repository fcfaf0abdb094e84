"""The Qdrant adapter (qdrant-client local mode) returns the same top-k as the embedded index.

Same data in both: random dense, multi-vector and sparse vectors (continuous values, so no ties
for the two engines to order differently). Scores agree to float32 precision (Qdrant computes
in float32 with its own summation order: rtol 1e-4).
"""

from __future__ import annotations

import numpy as np
import pytest

from tessera_onnx.errors import InvalidInputError, MissingDependencyError
from tessera_onnx.index import DenseIndex, MultiVectorIndex, SparseIndex, reciprocal_rank_fusion
from tessera_onnx.sparse_embedding import SparseEmbedding

qdrant_client = pytest.importorskip("qdrant_client")
from tessera_onnx.integrations.qdrant import ID_FIELD, QdrantIndex, point_id  # noqa: E402

N, DIM, MV_DIM, VOCAB = 400, 32, 16, 5000


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((N, DIM)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    mv = [rng.standard_normal((int(rng.integers(2, 30)), MV_DIM)).astype(np.float32) for _ in range(N)]
    sparse = [
        SparseEmbedding(rng.choice(VOCAB, 40, replace=False), rng.random(40).astype(np.float32) + 0.01)
        for _ in range(N)
    ]
    ids = [f"doc-{i}" if i % 3 else i for i in range(N)]
    meta = [{"group": i % 4, "title": f"t{i}"} for i in range(N)]
    queries = [
        (
            rng.standard_normal(DIM).astype(np.float32),
            rng.standard_normal((8, MV_DIM)).astype(np.float32),
            SparseEmbedding(rng.choice(VOCAB, 300, replace=False), rng.random(300).astype(np.float32)),
        )
        for _ in range(4)
    ]
    return ids, meta, dense, mv, sparse, queries


@pytest.fixture(scope="module")
def both(data):
    ids, meta, dense, mv, sparse, _ = data
    client = qdrant_client.QdrantClient(":memory:")
    store = QdrantIndex(client, "docs", dense_dim=DIM, multi_vector_dim=MV_DIM, sparse=True)
    store.upsert(ids, dense=dense, multi_vector=mv, sparse=sparse, metadata=meta, batch_size=64)
    local = {"dense": DenseIndex(DIM), "multi_vector": MultiVectorIndex(MV_DIM), "sparse": SparseIndex(VOCAB)}
    for kind, vectors in (("dense", dense), ("multi_vector", mv), ("sparse", sparse)):
        local[kind].add(ids, vectors, meta)
    return store, local


def _check_same(a, b):
    assert [h.id for h in a] == [h.id for h in b]
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-4, atol=1e-5)
    assert [h.metadata for h in a] == [h.metadata for h in b]


@pytest.mark.parametrize("kind", ["dense", "multi_vector", "sparse"])
def test_same_top_k_as_embedded_index(both, data, kind):
    store, local = both
    pos = {"dense": 0, "multi_vector": 1, "sparse": 2}[kind]
    for qs in data[5]:
        _check_same(store.search(qs[pos], 10, using=kind), local[kind].search(qs[pos], 10))
        flt = {"group": [1, 2]}
        _check_same(
            store.search(qs[pos], 10, using=kind, filter=flt), local[kind].search(qs[pos], 10, filter=flt)
        )


def test_prefetch_then_maxsim_rerank_matches_embedded(both, data):
    store, local = both
    for qd, qm, _ in data[5]:
        got = store.search(qm, 5, using="multi_vector", prefetch={"dense": qd}, prefetch_limit=50)
        candidates = {h.id for h in local["dense"].search(qd, 50)}
        titles = {local["dense"].metadata(i)["title"] for i in candidates}
        want = local["multi_vector"].search(qm, 5, filter=lambda m, titles=titles: m["title"] in titles)
        _check_same(got, want)


def test_hybrid_rrf_matches_embedded_fusion(both, data):
    store, local = both
    for qd, _, qs in data[5]:
        got = store.hybrid_search({"dense": qd, "sparse": qs}, 10, rrf_k=60, prefetch_limit=40)
        lists = {"dense": local["dense"].search(qd, 40), "sparse": local["sparse"].search(qs, 40)}
        want = reciprocal_rank_fusion(lists, k=60, limit=10)
        assert [h.id for h in got] == [h.id for h in want]
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-12)


def test_mapping_delete_and_errors(both, data):
    ids, meta, dense, mv, sparse, queries = data
    client = qdrant_client.QdrantClient(":memory:")
    store = QdrantIndex(client, "small", dense_dim=DIM)
    store.upsert(ids[:5], dense=dense[:5], metadata=meta[:5])
    point = client.retrieve("small", [point_id(ids[1])], with_payload=True, with_vectors=True)[0]
    assert point.payload == {**meta[1], ID_FIELD: ids[1]}
    np.testing.assert_allclose(point.vector["dense"], dense[1], rtol=1e-6)
    store.delete([ids[1]])
    assert len(store) == 4 and ids[1] not in [h.id for h in store.search(dense[1], 5)]
    with pytest.raises(InvalidInputError, match="holds"):
        store.upsert(["x"], dense=dense[:1], sparse=sparse[:1])
    with pytest.raises(InvalidInputError, match="wrong dimension"):
        store.upsert(["x"], dense=dense[:1, :5])
    with pytest.raises(InvalidInputError, match="reserved"):
        store.upsert(["x"], dense=dense[:1], metadata=[{ID_FIELD: 1}])
    with pytest.raises(InvalidInputError, match="once"):
        store.upsert(["x", "x"], dense=dense[:2])
    with pytest.raises(InvalidInputError, match="NaN"):
        store.search(np.full(DIM, np.nan, np.float32))


def test_missing_qdrant_names_the_extra(monkeypatch):
    import sys

    from tessera_onnx.integrations import qdrant

    monkeypatch.setitem(sys.modules, "qdrant_client.models", None)
    with pytest.raises(MissingDependencyError, match=r"tessera-onnx\[qdrant\]"):
        qdrant.QdrantIndex(object(), "c", dense_dim=4)


def test_runtime_outputs_upload_and_match(
    tiny_bert_dense_artifact, tiny_colbert_pylate_artifact, tiny_splade_artifact
):
    """The embedders' own output types go straight into Qdrant and the embedded indexes, same top-k."""
    from tessera_onnx import Tessera
    from tessera_onnx.index import Retriever

    dense = Tessera(tiny_bert_dense_artifact, threads=1)
    colbert = Tessera(tiny_colbert_pylate_artifact, threads=1)
    splade = Tessera(tiny_splade_artifact, threads=1)
    texts = [
        f"passage {i} about {w} and {v}"
        for i, (w, v) in enumerate(
            zip(["rivers", "maps", "cats", "tea"] * 6, ["snow", "glass", "iron"] * 8, strict=True)
        )
    ]
    ids = [f"p{i}" for i in range(len(texts))]
    store = QdrantIndex(
        qdrant_client.QdrantClient(":memory:"),
        "runtime",
        dense_dim=dense.dimension,
        multi_vector_dim=colbert.dimension,
        sparse=True,
    )
    store.upsert(
        ids,
        dense=dense.encode_documents(texts),
        multi_vector=colbert.encode_documents(texts, padded=True),  # a MultiVectorBatch
        sparse=splade.encode_documents(texts),
        batch_size=7,
    )
    assert len(store) == len(texts)
    retriever = Retriever(
        {
            "dense": (dense, DenseIndex(dense.dimension)),
            "multi_vector": (colbert, MultiVectorIndex(colbert.dimension)),
            "sparse": (splade, SparseIndex(splade.dimension)),
        }
    )
    retriever.add(ids, texts)
    query = "which passage is about tea and iron"
    for name, (model, index) in retriever.sources.items():
        q = model.encode_queries(query)
        _check_same(store.search(q, 5, using=name), index.search(q, 5))
