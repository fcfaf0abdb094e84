"""Retriever second stages: cross-encoder rerank of the first-stage top-N, and MMR diversification."""

from __future__ import annotations

import numpy as np
import pytest

from tessera_onnx.errors import InvalidInputError, UnknownIdError
from tessera_onnx.index.mmr import maximal_marginal_relevance

DOCS = [
    f"document {i} tells about {w} and {v}"
    for i, (w, v) in enumerate(
        [
            (w, v)
            for w in ("rivers", "cities", "mountains", "code", "music")
            for v in ("maps", "trains", "songs", "bridges")
        ]
    )
]
IDS = [f"d{i}" for i in range(len(DOCS))]


@pytest.fixture(scope="module")
def reranker(tiny_cross_encoder_artifact):
    from tessera_onnx import Tessera

    return Tessera(tiny_cross_encoder_artifact)


@pytest.fixture(scope="module")
def dense(tiny_bert_dense_artifact):
    from tessera_onnx import Tessera

    return Tessera(tiny_bert_dense_artifact)


def _retriever(dense, **kwargs):
    from tessera_onnx.index import DenseIndex, Retriever

    r = Retriever({"dense": (dense, DenseIndex(dense.dimension))}, **kwargs)
    r.add(IDS, DOCS)
    return r


def test_rerank_stage_rescores_the_first_stage_top_n(dense, reranker):
    plain = _retriever(dense, candidates=8)
    staged = _retriever(dense, candidates=8, reranker=reranker)
    query = "which documents tell about cities and trains"
    first = plain.search(query, k=8)
    hits = staged.search(query, k=5)
    ranked = reranker.rank(query, [DOCS[IDS.index(h.id)] for h in first])
    assert [h.id for h in hits] == [first[r["corpus_id"]].id for r in ranked[:5]]
    np.testing.assert_allclose([h.score for h in hits], [r["score"] for r in ranked[:5]], atol=1e-6)
    assert {h.id for h in hits} <= {h.id for h in first}  # only first-stage candidates
    assert [h.id for h in staged.search(query, k=5, rerank=False)] == [h.id for h in first[:5]]


def test_rerank_texts_survive_save_and_load(dense, reranker, tmp_path):
    from tessera_onnx.index import DenseIndex, Retriever

    r = _retriever(dense, candidates=6, reranker=reranker)
    r.save(tmp_path)
    fresh = Retriever({"dense": (dense, DenseIndex(dense.dimension))}, candidates=6, reranker=reranker)
    fresh.load_indexes(tmp_path)
    query = "music and songs"
    assert [h.id for h in fresh.search(query, k=4)] == [h.id for h in r.search(query, k=4)]
    r.delete(["d0"])
    assert "d0" not in r._texts


def test_text_of_lookup_and_missing_texts(dense, reranker):
    looked_up = []

    def text_of(doc_id):
        looked_up.append(doc_id)
        return DOCS[IDS.index(doc_id)]

    r = _retriever(dense, candidates=5, reranker=reranker, text_of=text_of)
    assert len(r.search("rivers", k=3)) == 3 and len(looked_up) == 5
    no_texts = _retriever(dense, candidates=5, reranker=reranker, keep_texts=False)
    with pytest.raises(UnknownIdError, match="no text is stored"):
        no_texts.search("rivers", k=3)


def test_mmr_in_the_retriever(dense, reranker):
    r = _retriever(dense, candidates=10, reranker=reranker)
    query = "mountains and bridges"
    reranked = r.search(query, k=10)
    assert [h.id for h in r.search(query, k=4, mmr=1.0)] == [h.id for h in reranked[:4]]
    diverse = r.search(query, k=4, mmr=0.3)
    assert len(diverse) == 4 and diverse[0].id == reranked[0].id and len({h.id for h in diverse}) == 4
    plain = _retriever(dense, candidates=10)
    assert len(plain.search(query, k=3, mmr=0.5)) == 3


def test_second_stage_errors(dense, reranker, tiny_cross_encoder_3_artifact):
    from tessera_onnx import Tessera

    plain = _retriever(dense)
    with pytest.raises(InvalidInputError, match="rerank=True"):
        plain.search("q", rerank=True)
    with pytest.raises(InvalidInputError, match="dense source"):
        plain.search("q", mmr=0.5, mmr_source="nope")
    with pytest.raises(InvalidInputError, match="lambda"):
        plain.search("q", mmr=1.5)
    with pytest.raises(InvalidInputError, match="one label"):
        _retriever(dense, reranker=Tessera(tiny_cross_encoder_3_artifact))
    with pytest.raises(InvalidInputError, match="cross-encoder"):
        _retriever(dense, reranker=dense)


def test_mmr_defers_near_duplicates():
    vectors = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [0.7, 0.7]])
    relevance = np.array([0.9, 0.89, 0.5, 0.6])
    assert maximal_marginal_relevance(relevance, vectors, 4, 1.0).tolist() == [0, 1, 3, 2]
    picked = maximal_marginal_relevance(relevance, vectors, 2, 0.5).tolist()
    assert picked[0] == 0 and picked[1] == 2  # the near-duplicate d1 waits
    assert maximal_marginal_relevance(relevance, vectors, 10, 0.5).shape == (4,)
    with pytest.raises(InvalidInputError):
        maximal_marginal_relevance(relevance, vectors[:2], 2)
