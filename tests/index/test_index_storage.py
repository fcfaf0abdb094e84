"""MultiVectorIndex(storage=...) keeps float tokens, int8 codes or sign bits; PageIndex is built on it."""

from __future__ import annotations

import numpy as np
import pytest

from tessera_onnx import PageIndex
from tessera_onnx.errors import InvalidInputError, UnknownIdError
from tessera_onnx.index import MultiVectorIndex, load_index
from tessera_onnx.ops import maxsim_scores
from tessera_onnx.quantization import calibration_ranges, quantize, quantized_maxsim_scores

DIM = 24


def _pages(seed: int, n: int = 30) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    pages = [rng.normal(size=(int(t), DIM)).astype(np.float32) for t in rng.integers(1, 60, n)]
    return [p / np.linalg.norm(p, axis=1, keepdims=True) for p in pages]


def _queries(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 100)
    return [rng.normal(size=(t, DIM)).astype(np.float32) for t in (3, 8, 20)]


def _reference(storage: str, queries: list[np.ndarray], pages: list[np.ndarray], ranges) -> np.ndarray:
    """MaxSim computed straight from ops / quantization, independent of the index."""
    if storage == "float":
        return maxsim_scores(queries, pages)
    corpus = quantize(pages, storage, ranges=ranges if storage == "int8" else None)
    return np.stack([quantized_maxsim_scores(q, corpus) for q in queries]).astype(np.float32)


@pytest.mark.parametrize("storage", ["float", "int8", "ubinary"])
def test_multi_vector_storage_scores_search_and_round_trip(storage, tmp_path):
    pages, queries = _pages(0), _queries(0)
    ranges = calibration_ranges(np.concatenate(pages)) if storage == "int8" else None
    index = MultiVectorIndex(DIM, storage=storage, ranges=ranges)
    index.add([f"d{i}" for i in range(len(pages))], pages)
    expected = _reference(storage, queries, pages, ranges)
    for q, want in zip(queries, expected, strict=True):
        np.testing.assert_allclose(index.scores(q), want, rtol=0, atol=1e-4)
        np.testing.assert_allclose(index.scores(q, ["d7", "d2"]), want[[7, 2]], rtol=0, atol=1e-4)
        hits = index.search(q, k=5)
        np.testing.assert_allclose([h.score for h in hits], np.sort(want)[::-1][:5], rtol=0, atol=1e-4)
    loaded = load_index(index.save(tmp_path / "mv.tessera-index"))
    assert loaded.config() == index.config() and loaded.memory_bytes() == index.memory_bytes()
    np.testing.assert_array_equal(loaded.scores(queries[0]), index.scores(queries[0]))
    if storage != "float":  # 4x / 32x smaller than float32 tokens (offsets and ranges aside)
        float_bytes = MultiVectorIndex(DIM)
        float_bytes.add(list(range(len(pages))), pages)
        ratio = float_bytes.memory_bytes() / index.memory_bytes()
        assert ratio > (3.5 if storage == "int8" else 20)
        assert index.tokens("d3").shape == pages[3].shape
    with pytest.raises(UnknownIdError):
        index.scores(queries[0], ["nope"])


def test_multi_vector_storage_arguments():
    with pytest.raises(InvalidInputError, match="storage"):
        MultiVectorIndex(DIM, storage="int4")
    with pytest.raises(InvalidInputError, match="ranges"):
        MultiVectorIndex(DIM, storage="int8")
    with pytest.raises(InvalidInputError, match="re-ranks with float tokens"):
        MultiVectorIndex(DIM, storage="ubinary", compression="pooled")
    with pytest.raises(InvalidInputError, match="ranges go with"):
        MultiVectorIndex(DIM, ranges=np.zeros((2, DIM)))


@pytest.mark.parametrize(("storage", "scheme"), [("float", "float"), ("int8", "int8"), ("binary", "ubinary")])
def test_page_index_results_are_maxsim_on_its_storage(storage, scheme):
    pages, queries = _pages(1), _queries(1)
    index = PageIndex(storage)
    index.add(pages[:10])
    index.add(pages[10:], [f"p{i}" for i in range(10, len(pages))])
    assert index.dim == DIM and len(index) == len(pages)
    ranges = np.stack([np.concatenate(pages[:10]).min(0), np.concatenate(pages[:10]).max(0)])
    expected = _reference(scheme, queries, pages, ranges)
    for q, want, hits in zip(queries, expected, index.search(queries, k=5), strict=True):
        order = np.argsort(-want, kind="stable")[:5]
        np.testing.assert_allclose(hits.scores, want[order], rtol=0, atol=1e-4)
        np.testing.assert_allclose(index.maxsim(q), want, rtol=0, atol=1e-4)
        assert hits.ids == [i if i < 10 else f"p{i}" for i in hits.indices]
    pooled = np.stack([p.mean(0) for p in pages])
    narrow = index.search(queries[0], k=3, prefetch=6)
    candidates = np.argsort(-(pooled @ queries[0].sum(0)), kind="stable")[:6]
    assert set(narrow.indices) <= set(candidates)
    np.testing.assert_allclose(narrow.scores, np.sort(expected[0][candidates])[::-1][:3], rtol=0, atol=1e-4)
