"""Bad input to the indexes gets typed errors (TesseraError subclasses) and changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from tessera_onnx.errors import DuplicateIdError, InvalidInputError, TesseraError, UnknownIdError
from tessera_onnx.index import DenseIndex, MultiVectorIndex, SparseIndex
from tessera_onnx.sparse_embedding import SparseEmbedding

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 8)).astype(np.float32)


def _filled():
    dense = DenseIndex(8)
    dense.add(["a", "b"], X[:2], [{"k": 1}, {"k": 2}])
    multi = MultiVectorIndex(8)
    multi.add(["a", "b"], [X[:2], X[2:]])
    sparse = SparseIndex(100)
    sparse.add(["a", "b"], [{1: 1.0}, {2: 1.0}])
    return dense, multi, sparse


def test_error_types_are_tessera_errors():
    for cls in (DuplicateIdError, UnknownIdError):
        assert issubclass(cls, InvalidInputError) and issubclass(cls, TesseraError)


def test_wrong_dimension():
    dense, multi, sparse = _filled()
    with pytest.raises(InvalidInputError, match="wrong dimension"):
        dense.add(["c"], np.ones((1, 7), np.float32))
    with pytest.raises(InvalidInputError, match="wrong dimension"):
        dense.search(np.ones(9, np.float32))
    with pytest.raises(InvalidInputError):
        multi.add(["c"], [np.ones((3, 7), np.float32)])
    with pytest.raises(InvalidInputError):
        multi.search(np.ones((2, 9), np.float32))
    with pytest.raises(InvalidInputError):
        multi.search(np.ones(8, np.float32))  # one vector is not a token matrix
    with pytest.raises(InvalidInputError, match="beyond the index's dim"):
        sparse.add(["c"], [{100: 1.0}])
    with pytest.raises(InvalidInputError, match="outside"):
        sparse.add(["c"], [SparseEmbedding([-1], [1.0])])
    with pytest.raises(InvalidInputError):
        dense.add(["c", "d"], X[:1])  # count mismatch
    assert len(dense) == len(multi) == len(sparse) == 2


def test_nan_and_inf_vectors():
    dense, multi, sparse = _filled()
    bad = X[:1].copy()
    bad[0, 3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        dense.add(["c"], bad)
    with pytest.raises(InvalidInputError, match="NaN"):
        dense.search(bad[0])
    with pytest.raises(InvalidInputError, match="NaN"):
        multi.add(["c"], [np.concatenate([X[:1], bad])])
    with pytest.raises(InvalidInputError, match="NaN"):
        sparse.add(["c"], [{3: float("inf")}])
    with pytest.raises(InvalidInputError, match="NaN"):
        sparse.search({3: float("nan")})
    with pytest.raises(InvalidInputError):
        dense.add(["c"], np.array([["x"] * 8]))
    assert len(dense) == len(multi) == len(sparse) == 2


def test_duplicate_and_unknown_ids():
    for index, vecs in zip(_filled(), (X[2:], [X[:1], X[1:3]], [{5: 1.0}, {6: 1.0}]), strict=True):
        with pytest.raises(DuplicateIdError, match="once"):
            index.add(["c", "c"], vecs)
        with pytest.raises(DuplicateIdError, match="once"):
            index.upsert(["c", "c"], vecs)
        with pytest.raises(DuplicateIdError, match="upsert"):
            index.add(["c", "a"], vecs)
        with pytest.raises(UnknownIdError, match="zzz"):
            index.delete(["a", "zzz"])
        with pytest.raises(UnknownIdError):
            index.metadata("zzz")
        assert index.ids == ["a", "b"]  # nothing half-applied
        with pytest.raises(InvalidInputError, match="str or int"):
            index.add([1.5], vecs[:1])
        with pytest.raises(InvalidInputError, match="str or int"):
            index.add([True], vecs[:1])


def test_metadata_must_be_json():
    dense, _, _ = _filled()
    for bad in (
        [{"x": float("nan")}],
        [{"x": object()}],
        [{1: "int key"}],
        ["not a dict"],
        {"k": 1},
        [{}, {}],
    ):
        with pytest.raises(InvalidInputError):
            dense.add(["c"], X[2:3], bad)
    dense.add(["c"], X[2:3], [{"x": [1, "two", None, {"three": 3.0}]}])
    assert dense.metadata("c") == {"x": [1, "two", None, {"three": 3.0}]}


def test_bad_search_arguments():
    dense, multi, sparse = _filled()
    for k in (0, -1, 1.5, True, None):
        with pytest.raises(InvalidInputError, match="k must"):
            dense.search(X[0], k)
    with pytest.raises(InvalidInputError, match="filter"):
        dense.search(X[0], 2, filter="k=1")
    with pytest.raises(
        InvalidInputError, match=r"DenseIndex.search\(\) got unknown option\(s\) \[.nprobe.\]"
    ):
        dense.search(X[0], 2, nprobe=4)
    with pytest.raises(InvalidInputError, match="rescore_multiplier"):
        dense.search(X[0], 2, rescore_multiplier=0)
    with pytest.raises(InvalidInputError):
        sparse.search([1, 2, 3])
    assert dense.search(X[0], 2, filter={"k": 3}) == []


def test_bad_constructor_arguments():
    for make in (
        lambda: DenseIndex(0),
        lambda: DenseIndex(8, compression="pq"),
        lambda: DenseIndex(8, rescore_multiplier=-2),
        lambda: MultiVectorIndex(8, bucket_ratio=1.0),
        lambda: MultiVectorIndex(8, compression="float16"),
        lambda: SparseIndex(dim=-5),
    ):
        with pytest.raises(InvalidInputError):
            make()
