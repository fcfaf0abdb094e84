"""Fusion formulas (RRF, weighted sum) against hand computation, and the text Retriever."""

from __future__ import annotations

import numpy as np
import pytest

from tessera_onnx.errors import DuplicateIdError, InvalidInputError, UnknownIdError
from tessera_onnx.index import (
    DenseIndex,
    Hit,
    MultiVectorIndex,
    Retriever,
    SparseIndex,
    fuse,
    reciprocal_rank_fusion,
    weighted_score_fusion,
)


def _hits(*pairs):
    return [Hit(i, s, {"src": i}) for i, s in pairs]


LISTS = {
    "dense": _hits(("a", 0.9), ("b", 0.8), ("c", 0.1)),
    "sparse": _hits(("c", 12.0), ("a", 3.0), ("d", 1.0)),
}


def test_rrf_matches_formula():
    fused = reciprocal_rank_fusion(LISTS, k=10, weights={"dense": 2.0, "sparse": 0.5})
    expected = {
        "a": 2 / 11 + 0.5 / 12,
        "b": 2 / 12,
        "c": 2 / 13 + 0.5 / 11,
        "d": 0.5 / 13,
    }
    assert [h.id for h in fused] == sorted(expected, key=lambda d: -expected[d])
    for h in fused:
        assert h.score == pytest.approx(expected[h.id], rel=1e-12)
        assert h.metadata == {"src": h.id}
    assert [h.id for h in reciprocal_rank_fusion(LISTS, k=10, limit=2)] == ["a", "c"]


def test_rrf_ties_break_by_best_rank_then_first_seen():
    fused = reciprocal_rank_fusion({"x": _hits(("p", 1), ("q", 1)), "y": _hits(("q", 1), ("p", 1))})
    assert [h.id for h in fused] == ["p", "q"]  # equal scores, equal best rank: first seen
    fused = reciprocal_rank_fusion({"x": _hits(("p", 1), ("q", 1)), "y": _hits(("r", 1))})
    assert [h.id for h in fused] == ["p", "r", "q"]


def test_weighted_sum_matches_formula():
    fused = weighted_score_fusion(LISTS, weights={"dense": 1.0, "sparse": 2.0})
    dn = {"a": 1.0, "b": 0.875, "c": 0.0}
    sn = {"c": 1.0, "a": 2 / 11, "d": 0.0}
    expected = {d: dn.get(d, 0) + 2 * sn.get(d, 0) for d in "abcd"}
    for h in fused:
        assert h.score == pytest.approx(expected[h.id], rel=1e-12)
    raw = weighted_score_fusion(LISTS, normalize="none")
    assert {h.id: h.score for h in raw}["a"] == pytest.approx(3.9)
    assert [h.id for h in fuse(LISTS, "weighted", weights={"dense": 1.0, "sparse": 2.0})] == [
        h.id for h in fused
    ]


def test_fusion_bad_arguments():
    for call in (
        lambda: reciprocal_rank_fusion(LISTS, k=-1),
        lambda: reciprocal_rank_fusion(LISTS, weights={"other": 1.0}),
        lambda: reciprocal_rank_fusion(LISTS, weights={"dense": -1.0}),
        lambda: reciprocal_rank_fusion(LISTS, limit=0),
        lambda: weighted_score_fusion(LISTS, normalize="z"),
        lambda: fuse(LISTS, "max"),
    ):
        with pytest.raises(InvalidInputError):
            call()


TEXTS = [
    "The cat sat on the warm window sill all afternoon.",
    "Stock markets fell sharply after the interest rate decision.",
    "A recipe for sourdough bread needs flour, water, salt and a starter.",
    "The football team won the championship after extra time.",
    "Kittens and cats like to sleep in sunny places.",
    "Central banks raise rates to fight inflation.",
]


@pytest.fixture(scope="module")
def models(minilm_artifact, splade_artifact):
    from tessera_onnx import Tessera

    return Tessera(minilm_artifact, threads=2), Tessera(splade_artifact, threads=2)


@pytest.mark.export
def test_retriever_end_to_end(models, tmp_path):
    dense_model, sparse_model = models
    retriever = Retriever(
        {
            "dense": (dense_model, DenseIndex(dense_model.dimension)),
            "sparse": (sparse_model, SparseIndex(sparse_model.dimension)),
        },
        rrf_k=60,
    )
    ids = [f"t{i}" for i in range(len(TEXTS))]
    retriever.add(ids, TEXTS, [{"topic": t} for t in ("pets", "money", "food", "sport", "pets", "money")])
    hits = retriever.search("where do cats like to sleep", k=3)
    assert hits[0].id in ("t4", "t0") and len(hits) == 3
    # the fused list is exactly RRF of the per-source lists
    lists = retriever.search_sources("where do cats like to sleep", 100)
    assert [(h.id, h.score) for h in hits] == [
        (h.id, h.score) for h in reciprocal_rank_fusion(lists, k=60, limit=3)
    ]
    assert lists["dense"][0].id == hits[0].id or lists["sparse"][0].id == hits[0].id
    # query embedding goes through each model's query encoder
    q = dense_model.encode_queries("where do cats like to sleep")
    assert [h.id for h in lists["dense"]] == [h.id for h in retriever.indexes["dense"].search(q, 100)]

    money = retriever.search("interest rates and inflation", k=5, filter={"topic": "money"})
    assert {h.id for h in money} == {"t1", "t5"} and all(h.metadata["topic"] == "money" for h in money)
    assert [h.id for h in retriever.search("bread flour", k=1, sources=["sparse"])] == ["t2"]

    with pytest.raises(DuplicateIdError):
        retriever.add(["t0"], ["again"])
    retriever.upsert(["t0"], ["Dogs bark at the postman every morning."], [{"topic": "pets"}])
    assert retriever.search("dog barking at the mail carrier", k=1)[0].id == "t0"
    with pytest.raises(UnknownIdError):
        retriever.delete(["nope"])
    retriever.delete(["t3"])
    assert len(retriever) == 5 and "t3" not in retriever.indexes["sparse"]

    retriever.save(tmp_path / "ret")
    before = retriever.search("cats", k=4)
    retriever.load_indexes(tmp_path / "ret")
    assert [(h.id, h.score) for h in retriever.search("cats", k=4)] == [(h.id, h.score) for h in before]

    weighted = Retriever(retriever.sources, fusion="weighted", weights={"dense": 1.0, "sparse": 0.0})
    assert [h.id for h in weighted.search("cats", k=3)] == [
        h.id for h in retriever.search("cats", k=3, sources=["dense"])
    ]


@pytest.mark.export
def test_retriever_checks_its_sources(models):
    dense_model, sparse_model = models
    with pytest.raises(InvalidInputError, match="cannot fill"):
        Retriever({"x": (dense_model, SparseIndex())})
    with pytest.raises(InvalidInputError, match="384-d"):
        Retriever({"x": (dense_model, DenseIndex(128))})
    with pytest.raises(InvalidInputError, match="cannot fill"):
        Retriever({"x": (sparse_model, MultiVectorIndex(8))})
    with pytest.raises(InvalidInputError):
        Retriever({})
    r = Retriever({"d": (dense_model, DenseIndex(384))})
    with pytest.raises(InvalidInputError):
        r.search(np.zeros(384))
    with pytest.raises(InvalidInputError, match="unknown sources"):
        r.search("x", sources=["sparse"])
