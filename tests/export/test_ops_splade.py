"""SPLADE pooling vs a torch reference; SparseEmbedding conversions."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tessera_onnx import SparseEmbedding
from tessera_onnx.errors import InvalidInputError, MissingDependencyError
from tessera_onnx.ops import dense_to_sparse, splade_pool, top_k_sparse
from tessera_onnx.sparse_embedding import inverted_index, sparse_dot, to_scipy

torch = pytest.importorskip("torch")


def _torch_splade(logits, mask, activation="log1p_relu", aggregation="max"):
    z = torch.from_numpy(logits)
    m = torch.from_numpy(mask).float().unsqueeze(-1)
    w = torch.log1p(torch.relu(z))
    if activation == "log1p_log1p_relu":
        w = torch.log1p(w)
    w = w * m
    return (w.max(dim=1).values if aggregation == "max" else w.sum(dim=1)).numpy()


@pytest.mark.parametrize("activation", ["log1p_relu", "log1p_log1p_relu"])
@pytest.mark.parametrize("aggregation", ["max", "sum"])
def test_splade_pool_matches_torch(activation, aggregation):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 6, 50)).astype(np.float32) * 3
    mask = np.ones((5, 6), dtype=np.int64)
    mask[1, 3:] = 0
    mask[2, 1:] = 0
    mask[4, :] = 0  # no real token at all: all-zero weights
    logits[1, 3:] = 100.0  # huge logits at padding must not leak
    ref = _torch_splade(logits, mask, activation, aggregation)
    got = splade_pool(logits.copy(), mask, activation, aggregation)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)
    assert not got[4].any()
    inplace = logits.copy()
    np.testing.assert_allclose(
        splade_pool(inplace, mask, activation, aggregation, inplace=True), ref, atol=1e-6
    )


def test_splade_pool_rejects_bad_arguments():
    with pytest.raises(ValueError):
        splade_pool(np.zeros((1, 2, 3), np.float32), np.ones((1, 2)), activation="softmax")
    with pytest.raises(ValueError):
        splade_pool(np.zeros((1, 2, 3), np.float32), np.ones((1, 3)))


def test_dense_to_sparse_and_top_k():
    row = np.array([0, 0.5, 0, 2.0, 0.5, 1.0], np.float32)
    idx, val = dense_to_sparse(row)
    assert idx.tolist() == [1, 3, 4, 5] and val.tolist() == [0.5, 2.0, 0.5, 1.0]
    ti, tv = top_k_sparse(idx, val, 3)
    assert ti.tolist() == [1, 3, 5] and tv.tolist() == [0.5, 2.0, 1.0]  # tie 1 vs 4: lower id kept
    assert top_k_sparse(idx, val, 10)[0].tolist() == idx.tolist()
    empty = dense_to_sparse(np.zeros(5, np.float32))
    assert empty[0].size == 0 and empty[0].dtype == np.int64


def test_sparse_embedding_conversions():
    vocab = ["[PAD]", "cat", "dog", "mat", "sat"]
    a = SparseEmbedding([3, 1], [0.5, 2.0], vocab, dim=5)
    b = SparseEmbedding([1, 4], [1.0, 3.0], vocab, dim=5)
    assert a.indices.tolist() == [1, 3]  # sorted on construction
    assert a.to_dict() == {1: 2.0, 3: 0.5}
    assert a.decode() == {"cat": 2.0, "mat": 0.5}
    assert list(a.decode(top_k=1)) == ["cat"]
    assert a.dot(b) == pytest.approx(2.0)
    np.testing.assert_allclose(a.to_dense(), [0, 2.0, 0, 0.5, 0])
    np.testing.assert_allclose(sparse_dot([a, b], [b]), [[2.0], [10.0]])
    matrix = to_scipy([a, b])
    assert matrix.shape == (2, 5)
    np.testing.assert_allclose(matrix.toarray()[1], [0, 1.0, 0, 0, 3.0])
    assert inverted_index([a, b], ["d1", "d2"]) == {
        1: [("d1", 2.0), ("d2", 1.0)],
        3: [("d1", 0.5)],
        4: [("d2", 3.0)],
    }
    assert inverted_index([a, b], decode=True)["cat"] == [(0, 2.0), (1, 1.0)]
    assert SparseEmbedding.from_dict(a.to_dict()) == a
    empty = SparseEmbedding([], [], vocab, dim=5)
    assert empty.decode() == {} and empty.nnz == 0 and to_scipy([empty]).nnz == 0
    with pytest.raises(InvalidInputError):
        SparseEmbedding([1], [1.0]).decode()
    with pytest.raises(InvalidInputError):
        SparseEmbedding([1, 1], [1.0, 2.0])


def test_to_scipy_without_scipy_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    with pytest.raises(MissingDependencyError, match="pip install scipy"):
        to_scipy([SparseEmbedding([1], [1.0], dim=3)])
