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
