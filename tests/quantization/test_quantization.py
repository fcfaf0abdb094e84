"""Embedding quantization: formats, round trips, Hamming, MaxSim, persistence, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tessera_onnx.errors import InvalidInputError, TesseraError
from tessera_onnx.quantization import (
    QuantizedEmbeddings,
    binary_maxsim,
    calibration_ranges,
    dequantize,
    hamming_distances,
    int8_dot,
    int8_maxsim,
    pack_bits,
    pack_int4,
    popcount,
    quantize,
    quantized_maxsim_scores,
    unpack_bits,
    unpack_int4,
)
from tessera_onnx.quantization import hamming as hamming_mod


def _emb(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


finite_floats = st.floats(-4, 4, allow_nan=False, allow_infinity=False, width=32)


def _naive_hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0], b.shape[0]), np.int64)
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = sum(bin(int(x) ^ int(y)).count("1") for x, y in zip(a[i], b[j], strict=False))
    return out


# ----------------------------------------------------------------------------- binary format


def test_bit_order_is_msb_first_along_last_axis():
    x = np.zeros((1, 16), np.float32)
    x[0, 0] = 1.0  # dimension 0 -> most significant bit of byte 0
    x[0, 9] = 1.0  # dimension 9 -> bit 6 of byte 1 (0b0100_0000)
    q = quantize(x, "ubinary")
    assert q.data.tolist() == [[0b1000_0000, 0b0100_0000]]
    assert quantize(x, "binary").data.tolist() == [[0b1000_0000 - 128, 0b0100_0000 - 128]]


def test_zero_maps_to_bit_zero_and_padding_bits_are_zero():
    x = np.array([[0.0, -0.0, 1e-30, -1.0, 2.0]], np.float32)  # dim 5 -> 1 byte, 3 pad bits
    q = quantize(x, "ubinary")
    assert q.data.shape == (1, 1)
    assert q.data[0, 0] == 0b0010_1000
    assert unpack_bits(q.data, 5).tolist() == [[0, 0, 1, 0, 1]]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.integers(0, 10_000))
def test_binary_round_trip_any_dim(dim, n, seed):
    x = _emb(n, dim, seed)
    for scheme in ("binary", "ubinary"):
        q = quantize(x, scheme)
        assert q.data.shape == (n, (dim + 7) // 8)
        assert q.data.dtype == (np.int8 if scheme == "binary" else np.uint8)
        np.testing.assert_array_equal(q.dequantize(reconstruction="bits"), (x > 0).astype(np.float32))
        np.testing.assert_array_equal(q.dequantize(reconstruction="sign"), np.where(x > 0, 1.0, -1.0))
        np.testing.assert_array_equal(q.bits(), pack_bits(x))


def test_binary_sizes_and_ratio():
    q = quantize(_emb(10_000, 384), "ubinary")
    assert q.data.nbytes == 10_000 * 48
    assert q.float32_bytes == 10_000 * 384 * 4
    assert q.memory_bytes == q.data.nbytes
    assert q.compression_ratio == 32.0


# ----------------------------------------------------------------------------- sentence-transformers parity


@pytest.fixture(scope="module")
def st_quant():
    return pytest.importorskip("sentence_transformers.quantization")


@pytest.mark.export
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("dim", [384, 64, 8, 24])
@pytest.mark.parametrize("scheme", ["binary", "ubinary"])
def test_binary_matches_sentence_transformers(st_quant, scheme, dim):
    x = _emb(50, dim, seed=dim)
    x[0, :3] = 0.0
    expected = st_quant.quantize_embeddings(x, precision=scheme)
    ours = quantize(x, scheme).to_sentence_transformers()
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.export
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_int8_matches_sentence_transformers_with_same_ranges(st_quant):
    calib = _emb(500, 64, seed=1)
    ranges = calibration_ranges(calib)
    x = np.clip(_emb(200, 64, seed=2), ranges[0], ranges[1])  # in-range values
    expected = st_quant.quantize_embeddings(x, precision="int8", ranges=ranges)
    np.testing.assert_array_equal(quantize(x, "int8", ranges=ranges).to_sentence_transformers(), expected)
    expected_cal = st_quant.quantize_embeddings(x, precision="int8", calibration_embeddings=calib)
    np.testing.assert_array_equal(quantize(x, "int8", calibration=calib).data, expected_cal)


# ----------------------------------------------------------------------------- int8 / int4


def test_int8_clips_out_of_range_instead_of_wrapping():
    ranges = np.array([[-1.0, 0.0], [1.0, 2.0]], np.float32)
    x = np.array([[5.0, -3.0], [-5.0, 9.0], [0.5, 1.0], [-1.0, 0.0], [1e9, -1e9]], np.float32)
    q = quantize(x, "int8", ranges=ranges)
    # floor((x - min) / ((max - min) / 255)) - 128, clipped to [-128, 127]: 0.5 -> 191 - 128, 1.0 -> 127 - 128
    assert q.data.tolist() == [[127, -128], [-128, 127], [63, -1], [-128, -128], [127, -128]]


def test_constant_calibration_dimension_has_no_division_by_zero():
    calib = _emb(200, 4)
    calib[:, 2] = 0.25  # constant dimension
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning (divide by zero / invalid value)
        for scheme in ("int8", "int4"):
            q = quantize(calib, scheme, calibration=calib)
            deq = q.dequantize()
            assert np.all(np.isfinite(deq))
            assert np.all(q.codes()[:, 2] == 0)
            assert q.steps()[2] == 1.0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 33), st.integers(0, 10_000))
def test_scalar_round_trip_error_is_within_one_step(dim, seed):
    x = _emb(150, dim, seed)
    for scheme in ("int8", "int4"):
        q = quantize(x, scheme, calibration=x)
        steps = q.steps()
        err = np.abs(q.dequantize() - x)
        assert np.all(err <= steps * 0.5 * (1 + 1e-4) + 1e-6)  # bin centres: at most half a step off
        assert q.dequantize().shape == x.shape


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(0, 4), st.integers(1, 17)), elements=st.integers(0, 15)))
def test_int4_pack_unpack_round_trip(codes):
    packed = pack_int4(codes)
    assert packed.shape == codes.shape[:-1] + ((codes.shape[-1] + 1) // 2,)
    np.testing.assert_array_equal(unpack_int4(packed, codes.shape[-1]), codes)


def test_int4_nibble_order_and_size():
    packed = pack_int4(np.array([[1, 2, 3]], np.uint8))
    assert packed.tolist() == [[0x12, 0x30]]  # first value in the high nibble, odd dim padded
    q = quantize(_emb(1000, 384), "int4", calibration=_emb(300, 384, 1))
    assert q.data.shape == (1000, 192) and q.data.dtype == np.uint8
    assert 7.8 < q.compression_ratio < 8.0  # ranges (2 x dim float32) are counted
    assert 3.9 < quantize(_emb(1000, 384), "int8", calibration=_emb(300, 384, 1)).compression_ratio < 4.0


def test_percentile_calibration_clips_outliers():
    calib = _emb(1000, 8)
    calib[0, 0] = 100.0
    full, robust = calibration_ranges(calib), calibration_ranges(calib, percentile=1.0)
    assert full[1, 0] == 100.0 and robust[1, 0] < 5.0
    assert quantize(calib, "int8", ranges=robust).data[0, 0] == 127


def test_ranges_from_tiny_batch_warns():
    with pytest.warns(UserWarning, match="ranges from only"):
        quantize(_emb(10, 8), "int8")


# ----------------------------------------------------------------------------- Hamming / popcount


@pytest.mark.parametrize("force_lut", [False, True])
@settings(max_examples=30, deadline=None)
@given(n_bytes=st.integers(1, 20), data=st.data())
def test_hamming_equals_naive_popcount(force_lut, n_bytes, data):
    a = data.draw(arrays(np.uint8, (data.draw(st.integers(1, 4)), n_bytes)))
    b = data.draw(arrays(np.uint8, (data.draw(st.integers(1, 9)), n_bytes)))
    original = hamming_mod._use_lut
    hamming_mod._use_lut = (lambda: True) if force_lut else original  # type: ignore[assignment]
    try:
        got = hamming_distances(a, b)
    finally:
        hamming_mod._use_lut = original  # type: ignore[assignment]
    np.testing.assert_array_equal(got, _naive_hamming(a, b))


def test_popcount_lut_fallback(monkeypatch):
    x = np.array([0, 1, 255, 2**63 + 5], np.uint64)
    monkeypatch.setattr(hamming_mod, "_use_lut", lambda: True)
    assert popcount(x).tolist() == [0, 1, 8, 3]
    assert popcount(np.array([7, 128], np.uint8)).tolist() == [3, 1]


def test_hamming_on_binary_form_uses_bit_pattern():
    x = _emb(30, 40)
    qb, qu = quantize(x, "binary"), quantize(x, "ubinary")
    np.testing.assert_array_equal(
        hamming_distances(qb.bits(), qb.bits()), hamming_distances(qu.data, qu.data)
    )
    with pytest.raises(InvalidInputError, match="uint8"):
        hamming_distances(qb.data, qb.data)


def test_hamming_across_blocks(monkeypatch):
    monkeypatch.setattr(hamming_mod, "_BLOCK", 7)
    a, b = pack_bits(_emb(3, 70)), pack_bits(_emb(50, 70, 1))
    np.testing.assert_array_equal(hamming_distances(a, b), _naive_hamming(a, b))


def test_hamming_threads_give_the_same_distances():
    corpus = hamming_mod.PackedWords(pack_bits(_emb(20_000, 384, 2)))
    qw = corpus.query_words(pack_bits(_emb(1, 384, 3)))[0]
    one = corpus.distances(qw, threads=1)
    np.testing.assert_array_equal(corpus.distances(qw, threads=3), one)
    np.testing.assert_array_equal(corpus.distances(qw), one)


# ----------------------------------------------------------------------------- MaxSim / int8 dot


def test_int8_dot_is_exact():
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (5, 1030), dtype=np.int8)  # > 1024: float64 path
    b = rng.integers(-128, 128, (7, 1030), dtype=np.int8)
    np.testing.assert_array_equal(int8_dot(a, b), a.astype(np.int64) @ b.astype(np.int64).T)
    a, b = np.full((1, 1024), -128, np.int8), np.full((2, 1024), -128, np.int8)
    assert int8_dot(a, b).tolist() == [[1024 * 16384] * 2]


def _multi(n_docs: int, dim: int, seed: int, empty: tuple[int, ...] = ()) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((0 if i in empty else rng.integers(1, 9), dim)).astype(np.float32)
        for i in range(n_docs)
    ]


@pytest.mark.parametrize("scheme", ["binary", "ubinary"])
def test_binary_maxsim_equals_brute_force_loop(scheme):
    dim = 48
    docs = _multi(12, dim, 0, empty=(4,))
    query = np.random.default_rng(9).standard_normal((5, dim)).astype(np.float32)
    corpus = quantize(docs, scheme)
    qbits = pack_bits(query)
    expected = []
    for doc in docs:
        dbits = pack_bits(doc)
        if doc.shape[0] == 0:
            expected.append(0)
            continue
        total = 0
        for qi in qbits:
            best = max(
                dim - 2 * sum(bin(int(x) ^ int(y)).count("1") for x, y in zip(qi, dj, strict=False))
                for dj in dbits
            )
            total += best
        expected.append(total)
    got_pair = [binary_maxsim(qbits, pack_bits(d), dim) for d in docs]
    assert got_pair == expected
    np.testing.assert_array_equal(quantized_maxsim_scores(query, corpus), expected)
    # the ±1 similarity is the dot product of the sign vectors
    signs = [np.where(d > 0, 1, -1) for d in docs]
    qs = np.where(query > 0, 1, -1)
    assert expected[0] == int((qs @ signs[0].T).max(axis=1).sum())


def test_int8_maxsim_equals_brute_force_and_scalar_first_stage_is_exact():
    dim = 16
    docs = _multi(6, dim, 1)
    query = np.random.default_rng(2).standard_normal((4, dim)).astype(np.float32)
    calib = np.concatenate(docs)
    corpus = quantize(docs, "int8", calibration=calib)
    qcodes = quantize(query, "int8", ranges=corpus.ranges).data
    for i, _d in enumerate(docs):
        dcodes = corpus.data[corpus.doc_rows(i)]
        brute = sum(max(int(np.dot(qi.astype(int), dj.astype(int))) for dj in dcodes) for qi in qcodes)
        assert int8_maxsim(qcodes, dcodes) == brute
    for scheme in ("int8", "int4"):
        corpus = quantize(docs, scheme, calibration=calib)
        recon = dequantize(corpus)
        expected = [(query @ r.T).max(axis=1).sum() for r in recon]
        np.testing.assert_allclose(quantized_maxsim_scores(query, corpus), expected, rtol=1e-5, atol=1e-4)


def test_multi_vector_layout():
    docs = _multi(5, 8, 3, empty=(2,))
    q = quantize(docs, "int4", calibration=np.concatenate(docs))
    assert len(q) == 5 and q.n_rows == sum(len(d) for d in docs)
    assert q.offsets.tolist()[0] == 0 and q.is_multi_vector
    assert [r.shape[0] for r in dequantize(q)] == [len(d) for d in docs]


# ----------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("scheme", ["binary", "ubinary", "int8", "int4"])
@pytest.mark.parametrize("multi", [False, True])
def test_save_load_round_trip(tmp_path, scheme, multi):
    x = _multi(7, 20, 4) if multi else _emb(30, 20)
    calib = (np.concatenate(x) if multi else x) if scheme in ("int8", "int4") else None
    q = quantize(x, scheme, calibration=calib)
    path = q.save(tmp_path / "corpus")
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as npz:  # readable without pickle
        assert "meta" in npz.files
    r = QuantizedEmbeddings.load(path)
    assert (r.scheme, r.dim, len(r)) == (q.scheme, q.dim, len(q))
    np.testing.assert_array_equal(r.data, q.data)
    for name in ("ranges", "offsets"):
        a, b = getattr(q, name), getattr(r, name)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(r.dequantize(), q.dequantize())


def test_load_rejects_foreign_and_pickled_files(tmp_path):
    np.savez(tmp_path / "foreign.npz", data=np.zeros((2, 2), np.uint8))
    with pytest.raises(InvalidInputError, match="not a tessera"):
        QuantizedEmbeddings.load(tmp_path / "foreign.npz")
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"a": 1}], dtype=object), data=np.zeros(1))
    with pytest.raises(InvalidInputError):
        QuantizedEmbeddings.load(tmp_path / "pickled.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(InvalidInputError):
        QuantizedEmbeddings.load(tmp_path / "garbage.npz")


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((3, 8), np.int8),
        np.zeros((3, 8), np.uint8),
        np.zeros((3, 8), np.int64),
        np.array([["a"] * 8]),
        np.zeros((2, 3, 8), np.float32),
        np.full((2, 8), np.nan, np.float32),
    ],
)
def test_quantize_rejects_bad_input(bad):
    for scheme in ("binary", "int8"):
        with pytest.raises(InvalidInputError):
            quantize(bad, scheme, calibration=_emb(5, 8) if scheme == "int8" else None)


def test_quantize_errors_are_typed_and_clear():
    x = _emb(10, 8)
    with pytest.raises(InvalidInputError, match="unknown quantization scheme"):
        quantize(x, "int3")
    with pytest.raises(InvalidInputError, match=r"shape \(2, 8\)"):
        quantize(x, "int8", ranges=np.zeros((2, 7)))
    with pytest.raises(InvalidInputError, match="min"):
        quantize(x, "int8", ranges=np.vstack([np.ones(8), np.zeros(8)]))
    with pytest.raises(InvalidInputError, match="calibration has dim"):
        quantize(x, "int8", calibration=_emb(10, 9))
    with pytest.raises(InvalidInputError, match="different dimensions"):
        quantize([_emb(2, 8), _emb(2, 9)], "binary")
    with pytest.raises(InvalidInputError, match="already quantized"):
        quantize(quantize(x, "binary"), "binary")
    with pytest.raises(TesseraError):
        QuantizedEmbeddings(data=np.zeros((2, 3), np.uint8), scheme="ubinary", dim=8)
    with pytest.raises(InvalidInputError, match="no ranges"):
        quantize(x, "binary", calibration=x)
    with pytest.raises(InvalidInputError, match="no int4"):
        quantize(x, "int4", calibration=x).to_sentence_transformers()


def test_old_quantized_maxsim_name_warns_and_is_the_new_function():
    import tessera_onnx.quantization as quantization
    from tessera_onnx.ops import maxsim_scores as float_maxsim_scores

    with pytest.warns(DeprecationWarning, match="quantized_maxsim_scores"):
        old = quantization.maxsim_scores
    assert old is quantized_maxsim_scores and old is not float_maxsim_scores
    assert "maxsim_scores" not in quantization.__all__
