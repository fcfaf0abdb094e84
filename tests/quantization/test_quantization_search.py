"""Two-stage retrieval over quantized corpora, and a smoke run of the quantization benchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera_onnx.errors import InvalidInputError
from tessera_onnx.ops.maxsim import maxsim_scores as float_maxsim
from tessera_onnx.quantization import (
    DEFAULT_RESCORE_MULTIPLIER,
    SCHEMES,
    exact_search,
    quantize,
    search,
    topk,
)
from tessera_onnx.quantization import retrieval as search_mod


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _docs(n: int, d: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(1, 7)), d)).astype(np.float32) for _ in range(n)]


# ----------------------------------------------------------------------------- top-k helpers


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 60), st.integers(1, 70), st.integers(0, 1000))
def test_topk_matches_full_sort(n, k, seed):
    scores = np.random.default_rng(seed).integers(0, 5, (3, n)).astype(np.float32)  # many ties
    got = topk(scores, k)
    for row, idx in zip(scores, got, strict=True):
        expected = sorted(range(n), key=lambda j: (-row[j], j))[: min(k, n)]
        np.testing.assert_array_equal(row[idx], row[expected])  # same scores, best first
        assert len(set(idx.tolist())) == len(idx)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 300), st.integers(1, 40), st.integers(0, 1000))
def test_smallest_ints_is_stable_exact_selection(n, k, seed):
    dist = np.random.default_rng(seed).integers(0, 9, n).astype(np.uint16)
    got = search_mod._smallest_ints(dist, k, 8)
    expected = np.argsort(dist, kind="stable")[:k]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("k", [1, 10, 400])
@pytest.mark.parametrize("spread", [2, 40, 385])
def test_smallest_ints_large_inputs_use_sampled_threshold(k, spread):
    rng = np.random.default_rng(spread)
    dist = rng.integers(0, spread, 50_000).astype(np.uint16)
    dist[rng.integers(0, 50_000, 3)] = 0  # a few rare best values the sample may miss
    got = search_mod._smallest_ints(dist, k, 384)
    np.testing.assert_array_equal(got, np.argsort(dist, kind="stable")[:k])


# ----------------------------------------------------------------------------- dense search


@pytest.mark.parametrize("scheme", SCHEMES)
def test_two_stage_equals_exact_when_multiplier_covers_corpus(scheme):
    docs, queries = _unit(300, 32, 1), _unit(6, 32, 2)
    corpus = quantize(docs, scheme, calibration=docs if scheme in ("int8", "int4") else None)
    exact = exact_search(queries, docs, k=10)
    got = search(queries, corpus, k=10, rescore_multiplier=30, rescore_with=docs)
    np.testing.assert_array_equal(got.indices, exact.indices)
    np.testing.assert_allclose(got.scores, exact.scores, rtol=1e-5, atol=1e-6)
    # without a float corpus: exact search over the reconstructed vectors
    recon = corpus.dequantize()
    got = search(queries, corpus, k=10, rescore_multiplier=30)
    ref = exact_search(queries, recon, k=10)
    np.testing.assert_allclose(got.scores, ref.scores, rtol=1e-5, atol=1e-5)


def test_binary_rescoring_follows_sentence_transformers_semantics():
    docs, q = _unit(200, 64, 3), _unit(1, 64, 4)[0]
    corpus = quantize(docs, "ubinary")
    res = search(q, corpus, k=5, rescore_multiplier=4)
    # candidates: the 20 nearest in Hamming distance; score: q · unpacked 0/1 bits
    bits = np.unpackbits(corpus.data, axis=-1).astype(np.float32)
    hamming = np.unpackbits(corpus.data ^ np.packbits(q > 0), axis=-1).sum(axis=1)
    cand = np.argsort(hamming, kind="stable")[:20]
    scores = bits[cand] @ q
    expected = cand[np.argsort(-scores, kind="stable")[:5]]
    np.testing.assert_array_equal(res.indices, expected)
    np.testing.assert_allclose(res.scores, np.sort(scores)[::-1][:5], rtol=1e-6)
    # 0/1 and ±1 reconstructions rank identically: q·(2b-1) = 2 q·b - Σq
    sign = search(q, corpus, k=5, rescore_multiplier=4, reconstruction="sign")
    np.testing.assert_array_equal(sign.indices, res.indices)
    np.testing.assert_allclose(sign.scores, 2 * res.scores - q.sum(), rtol=1e-5, atol=1e-5)


def test_first_stage_scores_and_shapes():
    docs, q = _unit(100, 24, 5), _unit(3, 24, 6)
    corpus = quantize(docs, "binary")
    res = search(q, corpus, k=4, rescore=False)
    assert res.indices.shape == res.scores.shape == (3, 4)
    bits_d = np.where(docs > 0, 1, -1)
    sims = np.where(q > 0, 1, -1) @ bits_d.T  # dim - 2·hamming
    for row, idx, sc in zip(sims, res.indices, res.scores, strict=True):
        np.testing.assert_array_equal(sc, row[idx])
        assert sc[0] == row.max() and np.all(np.diff(sc) <= 0)
    one = search(q[0], corpus, k=4)
    assert one.indices.shape == (4,) and one.scores.dtype == np.float32


def test_binary_index_rescored_with_an_int8_copy():
    docs, q = _unit(500, 32, 12), _unit(5, 32, 13)
    binary, fine = quantize(docs, "ubinary"), quantize(docs, "int8", calibration=docs)
    got = search(q, binary, k=5, rescore_multiplier=100, rescore_with=fine)
    ref = exact_search(q, fine.dequantize(), k=5)
    np.testing.assert_array_equal(got.indices, ref.indices)
    with pytest.raises(InvalidInputError, match="int8/int4"):
        search(q, binary, rescore_with=binary)
    with pytest.raises(InvalidInputError, match="vectors"):
        search(q, binary, rescore_with=quantize(docs[:10], "int8", calibration=docs))


def test_k_larger_than_corpus_and_int8_codes_reconstruction():
    docs = _unit(7, 16, 7)
    corpus = quantize(docs, "int8", calibration=docs)
    res = search(docs[0], corpus, k=50)
    assert sorted(res.indices.tolist()) == list(range(7))
    st_like = search(docs[0], corpus, k=3, reconstruction="codes")
    expected = topk((corpus.data.astype(np.float32) @ docs[0])[None], 3)[0]
    np.testing.assert_array_equal(st_like.indices, expected)


def test_search_blocks_merge_like_one_block(monkeypatch):
    docs, q = _unit(5000, 16, 8), _unit(4, 16, 9)
    corpus = quantize(docs, "int4", calibration=docs)
    whole = search(q, corpus, k=10, rescore=False)
    monkeypatch.setattr(search_mod, "_SCORE_BLOCK", 64)
    blocked = search(q, corpus, k=10, rescore=False)
    np.testing.assert_array_equal(blocked.indices, whole.indices)
    np.testing.assert_array_equal(exact_search(q, docs, 10).indices, exact_search(q, docs, 10).indices)


def test_defaults_are_documented_per_scheme():
    assert set(DEFAULT_RESCORE_MULTIPLIER) == set(SCHEMES)
    assert all(m >= 1 for m in DEFAULT_RESCORE_MULTIPLIER.values())


# ----------------------------------------------------------------------------- multi-vector search


@pytest.mark.parametrize("scheme", SCHEMES)
def test_multi_vector_two_stage_equals_exact_maxsim(scheme):
    docs = _docs(40, 16, 10)
    queries = [np.random.default_rng(s).standard_normal((4, 16)).astype(np.float32) for s in (1, 2)]
    corpus = quantize(docs, scheme, calibration=np.concatenate(docs) if scheme in ("int8", "int4") else None)
    exact = float_maxsim(queries, docs)
    got = search(queries, corpus, k=5, rescore_multiplier=8, rescore_with=docs)
    for i in range(2):
        expected = np.argsort(-exact[i], kind="stable")[:5]
        np.testing.assert_array_equal(got.indices[i], expected)
        np.testing.assert_allclose(got.scores[i], exact[i][expected], rtol=1e-5)
    single = search(queries[0], corpus, k=3, rescore_multiplier=20, rescore_with=np.concatenate(docs))
    np.testing.assert_array_equal(single.indices, got.indices[0][:3])


# ----------------------------------------------------------------------------- errors


def test_search_rejects_bad_input():
    docs = _unit(20, 8, 11)
    corpus = quantize(docs, "ubinary")
    with pytest.raises(InvalidInputError, match="dim"):
        search(_unit(1, 9)[0], corpus)
    with pytest.raises(InvalidInputError, match="floating"):
        search(np.ones(8, np.int8), corpus)
    with pytest.raises(InvalidInputError, match="quantized"):
        search(corpus, corpus)
    with pytest.raises(InvalidInputError, match="QuantizedEmbeddings"):
        search(docs[0], docs)
    with pytest.raises(InvalidInputError, match="k must"):
        search(docs[0], corpus, k=0)
    with pytest.raises(InvalidInputError, match="rescore_multiplier"):
        search(docs[0], corpus, rescore_multiplier=0)
    with pytest.raises(InvalidInputError, match="shape"):
        search(docs[0], corpus, rescore_with=docs[:5])
    with pytest.raises(InvalidInputError, match="does not apply"):
        search(docs[0], corpus, reconstruction="dequantize")
    with pytest.raises(InvalidInputError, match="NaN"):
        search(np.full(8, np.nan, np.float32), corpus)
    multi = quantize(_docs(3, 8, 1), "int8", calibration=docs)
    with pytest.raises(InvalidInputError, match="tokens"):
        search([np.ones((2, 8), np.float32)], multi, rescore_with=[np.ones((1, 8), np.float32)] * 3)


# ----------------------------------------------------------------------------- benchmark smoke


def test_benchmark_smoke(tmp_path):
    bench = pytest.importorskip("benchmarks.quantization")
    out = tmp_path / "q.json"
    results = bench.main(
        [
            "--n-passages",
            "60",
            "--n-queries",
            "8",
            "--embedder",
            "hash",
            "--timing-n",
            "3000",
            "--timing-queries",
            "3",
            "--timing-rounds",
            "1",
            "--out",
            str(out),
        ]
    )
    data = json.loads(out.read_text())
    assert data["corpus"]["n_passages"] == 60
    for name in ("binary", "int8", "int4"):
        row = data["recall"][name]
        assert 0.0 <= row["first_stage_recall@10"] <= 1.0
        assert (
            set(row["rescored"]["float"])
            == {str(m) for m in bench.MULTIPLIERS}
            >= {str(m) for m in range(1, 11)}
        )
    assert data["recall"]["binary"]["bytes_per_vector"] == 48
    assert data["timing"]["n_vectors"] == 3000
    assert "| scheme |" in bench.markdown(results)
