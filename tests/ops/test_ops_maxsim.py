"""MaxSim: vectorised scores equal a brute-force loop (hypothesis), padding/masks excluded."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera_onnx.ops import maxsim, maxsim_scores, pad_multivectors

maxsim_module = importlib.import_module("tessera_onnx.ops.maxsim")


def _brute(queries, documents):
    out = np.zeros((len(queries), len(documents)), dtype=np.float64)
    for a, q in enumerate(queries):
        for b, d in enumerate(documents):
            if len(d) == 0:
                continue
            total = 0.0
            for qi in q:
                total += max(float(np.dot(qi, dj)) for dj in d)
            out[a, b] = total
    return out


@st.composite
def _ragged(draw, max_items=5, max_tokens=7):
    dim = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    nq = draw(st.integers(1, max_items))
    nd = draw(st.integers(1, max_items))
    qs = [rng.normal(size=(draw(st.integers(1, max_tokens)), dim)).astype(np.float32) for _ in range(nq)]
    ds = [rng.normal(size=(draw(st.integers(0, max_tokens)), dim)).astype(np.float32) for _ in range(nd)]
    return qs, ds


@settings(max_examples=80, deadline=None)
@given(_ragged())
def test_maxsim_matches_brute_force(data):
    qs, ds = data
    np.testing.assert_allclose(maxsim_scores(qs, ds), _brute(qs, ds), rtol=1e-5, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(_ragged())
def test_padded_form_and_chunking_give_the_same_scores(data):
    qs, ds = data
    expected = _brute(qs, ds)
    q, qm = pad_multivectors(qs)
    d, dm = pad_multivectors(ds)
    np.testing.assert_allclose(maxsim_scores(q, d, qm, dm), expected, rtol=1e-5, atol=1e-4)
    old = maxsim_module._BLOCK_ELEMENTS
    maxsim_module._BLOCK_ELEMENTS = 1  # one document per chunk
    try:
        np.testing.assert_allclose(maxsim_scores(q, d, qm, dm), expected, rtol=1e-5, atol=1e-4)
    finally:
        maxsim_module._BLOCK_ELEMENTS = old


def test_all_negative_similarities_ignore_padding():
    q = [np.array([[1.0, 0.0]], np.float32)]
    d = [np.array([[-1.0, 0.0]], np.float32), np.array([[-0.5, 0.0], [-0.25, 0.0]], np.float32)]
    # a zero-padded row must not win the max: padding is excluded, not scored as 0
    np.testing.assert_allclose(maxsim_scores(q, d), [[-1.0, -0.25]])


def test_single_pair_and_empty_inputs():
    q = np.eye(3, dtype=np.float32)
    d = np.eye(3, dtype=np.float32)[:2]
    assert maxsim(q, d) == pytest.approx(2.0)
    assert maxsim(q, [d, d]).shape == (2,)
    assert maxsim_scores([], [d]).shape == (0, 1)
    assert maxsim_scores([q], []).shape == (1, 0)
    with pytest.raises(ValueError):
        maxsim_scores([q], [np.ones((2, 4), np.float32)])


def test_pad_multivectors():
    arrays = [np.ones((2, 3), np.float32), np.ones((0, 3), np.float32), 2 * np.ones((4, 3), np.float32)]
    padded, mask = pad_multivectors(arrays)
    assert padded.shape == (3, 4, 3) and mask.tolist() == [[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
    assert padded[0, 2:].sum() == 0


# ------------------------------------------------------------ blocked / threaded / packed paths


def _packed(arrays):
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)
    tokens = np.concatenate(arrays, axis=0) if arrays else np.zeros((0, 1), np.float32)
    return tokens, offsets


@settings(max_examples=40, deadline=None)
@given(_ragged(max_items=9), st.sampled_from([1, 2, 3]), st.sampled_from([1, 7, 64, 1 << 16]))
def test_packed_threaded_and_blocked_paths_match_brute_force(data, threads, block_elements):
    """Every path (packed input, padded input with prefix masks, tiny blocks, worker threads) equals the loop."""
    qs, ds = data
    expected = _brute(qs, ds)
    old = maxsim_module._BLOCK_ELEMENTS, maxsim_module._PARALLEL_MIN_MACS
    maxsim_module._BLOCK_ELEMENTS, maxsim_module._PARALLEL_MIN_MACS = block_elements, 0
    try:
        tokens, offsets = _packed(ds)
        got = maxsim_module.maxsim_scores_packed(qs, tokens, offsets, threads=threads)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
        d, dm = pad_multivectors(ds)  # real tokens first: read in place, padding skipped by reduceat pairs
        np.testing.assert_allclose(
            maxsim_scores(qs, d, None, dm, threads=threads), expected, rtol=1e-5, atol=1e-4
        )
    finally:
        maxsim_module._BLOCK_ELEMENTS, maxsim_module._PARALLEL_MIN_MACS = old


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_masks_with_holes_are_gathered(seed):
    """A document mask with holes (not real-tokens-first) scores only the unmasked rows."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(4, 6, 3)).astype(np.float32)
    dm = rng.random((4, 6)) < 0.5
    q = rng.normal(size=(2, 5, 3)).astype(np.float32)
    qm = rng.random((2, 5)) < 0.7
    expected = _brute([x[m] for x, m in zip(q, qm, strict=True)], [x[m] for x, m in zip(d, dm, strict=True)])
    np.testing.assert_allclose(maxsim_scores(q, d, qm, dm), expected, rtol=1e-5, atol=1e-4)


def test_packed_rejects_bad_offsets():
    tokens = np.ones((5, 2), np.float32)
    q = [np.ones((1, 2), np.float32)]
    for bad in ([0, 3], [1, 5], [0, 4, 3, 5], [[0, 5]]):
        with pytest.raises(ValueError):
            maxsim_module.maxsim_scores_packed(q, tokens, np.asarray(bad))
    with pytest.raises(ValueError):
        maxsim_module.maxsim_scores_packed(q, np.ones(5, np.float32), np.asarray([0, 5]))


def test_large_call_uses_workers_and_restores_blas_threads():
    """The threaded path (1 query x 300 documents of 40 tokens) equals the one-thread path, and
    the BLAS thread count is what it was before the call."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(3)
    q = rng.normal(size=(1, 32, 64)).astype(np.float32)
    d = rng.normal(size=(300, 40, 64)).astype(np.float32)
    before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    old = maxsim_module._PARALLEL_MIN_MACS
    maxsim_module._PARALLEL_MIN_MACS = 0
    try:
        threaded = maxsim_scores(q, d, threads=2)
    finally:
        maxsim_module._PARALLEL_MIN_MACS = old
    after = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    assert before == after
    expected = np.einsum("qtd,ksd->qkts", q.astype(np.float64), d.astype(np.float64)).max(-1).sum(-1)
    np.testing.assert_allclose(threaded, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(maxsim_scores(q, d, threads=1), threaded, rtol=1e-6, atol=1e-5)


@pytest.mark.export
def test_equals_pylate_colbert_scores():
    """Same scores as PyLate's ``colbert_scores`` (max |diff| <= 1e-5) on unit vectors, full masks and,
    where every document has a positive similarity (PyLate scores padding as 0, we exclude it), ragged ones."""
    torch = pytest.importorskip("torch")
    scores_mod = pytest.importorskip("pylate.scores")
    rng = np.random.default_rng(11)

    def unit(shape, positive=False):
        x = rng.standard_normal(shape).astype(np.float32)
        x = np.abs(x) if positive else x
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    q, d = unit((3, 32, 128)), unit((50, 60, 128))
    ref = scores_mod.colbert_scores(torch.from_numpy(q), torch.from_numpy(d)).numpy()
    assert np.abs(maxsim_scores(q, d) - ref).max() <= 1e-5
    q, d = unit((3, 32, 16), True), unit((50, 60, 16), True)
    qm = np.arange(32)[None] < rng.integers(1, 33, size=(3, 1))
    dm = np.arange(60)[None] < rng.integers(1, 61, size=(50, 1))
    ref = scores_mod.colbert_scores(
        torch.from_numpy(q), torch.from_numpy(d), torch.from_numpy(qm).float(), torch.from_numpy(dm).float()
    ).numpy()
    assert np.abs(maxsim_scores(q, d, qm, dm) - ref).max() <= 1e-5


@pytest.mark.parametrize("tokens", [1, 2, 3, 5, 8, 33, 180])
def test_equal_length_documents(tokens):
    """Documents of one length (padded input read in place, or packed) score as the loop does."""
    rng = np.random.default_rng(tokens)
    q = [rng.normal(size=(4, 8)).astype(np.float32)]
    docs = [rng.normal(size=(tokens, 8)).astype(np.float32) for _ in range(7)]
    expected = _brute(q, docs)
    np.testing.assert_allclose(maxsim_scores(q, np.stack(docs)), expected, rtol=1e-5, atol=1e-4)
    tokens_matrix, offsets = _packed(docs)
    got = maxsim_module.maxsim_scores_packed(q, tokens_matrix, offsets)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_preread_of_large_indexes_gives_the_same_scores(monkeypatch):
    """Indexes beyond the last-level cache read each block before its GEMM; scores do not change."""
    kernel = importlib.import_module("tessera_onnx.ops.maxsim")
    rng = np.random.default_rng(7)
    q = rng.standard_normal((2, 5, 16)).astype(np.float32)
    d = rng.standard_normal((40, 9, 16)).astype(np.float32)
    mask = np.ones((40, 9), bool)
    mask[::3, 6:] = False
    plain = maxsim_scores(q, d, None, mask)
    monkeypatch.setattr(kernel, "_PREREAD_MIN_BYTES", 0)
    np.testing.assert_array_equal(maxsim_scores(q, d, None, mask), plain)
