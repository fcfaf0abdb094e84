"""Every bad-input rule of the text embedders, on the tiny artifacts (fast)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tessera_onnx import Tessera
from tessera_onnx.errors import InvalidInputError, TesseraError, TruncationWarning, UnsupportedDimensionError


@pytest.fixture(scope="module", params=["dense", "multi_vector", "sparse"])
def embedder(request):
    name = {
        "dense": "tiny_bert_dense_artifact",
        "multi_vector": "tiny_colbert_pylate_artifact",
        "sparse": "tiny_splade_artifact",
    }[request.param]
    return Tessera(request.getfixturevalue(name))


@pytest.mark.parametrize(
    "bad, index", [([None], 0), (["ok", b"bytes"], 1), (["a", "b", 3], 2), (["x", ["nested"]], 1)]
)
def test_non_str_items_name_the_index(embedder, bad, index):
    with pytest.raises(InvalidInputError, match=rf"texts\[{index}\]"):
        embedder.encode(bad)


@pytest.mark.parametrize("bad", [None, b"raw bytes", 42, {"text": "x"}])
def test_non_sequence_inputs(embedder, bad):
    with pytest.raises(InvalidInputError):
        embedder.encode(bad)


def test_invalid_input_is_a_tessera_error_and_value_error(embedder):
    with pytest.raises(TesseraError):
        embedder.encode([None])
    with pytest.raises(ValueError):
        embedder.encode([None])


def test_empty_sequence_gives_empty_result_of_the_right_shape(embedder):
    out = embedder.encode([])
    if embedder.manifest.paradigm == "dense":
        assert (
            isinstance(out, np.ndarray) and out.shape == (0, embedder.dimension) and out.dtype == np.float32
        )
    else:
        assert out == []
    assert len(embedder.encode(())) == 0
    assert len(embedder.encode(np.array([], dtype=str))) == 0


def test_empty_string_and_whitespace_are_allowed(embedder):
    out = embedder.encode(["", "   ", "x"])
    assert len(out) == 3


def test_lone_surrogates_and_control_characters_do_not_crash(embedder):
    texts = ["bad \ud800 surrogate", "\udfff", "nul \x00 bell \x07 esc \x1b", "\u200b\ufeff zero width", "ok"]
    out = embedder.encode(texts)
    assert len(out) == len(texts)
    replaced = embedder.encode(["bad \ufffd surrogate"])
    first = out[0] if embedder.manifest.paradigm != "sparse" else out[0].to_dense(embedder.dimension)
    again = (
        replaced[0] if embedder.manifest.paradigm != "sparse" else replaced[0].to_dense(embedder.dimension)
    )
    np.testing.assert_allclose(first, again, atol=1e-6)


def test_over_long_text_is_truncated_with_a_counted_warning(embedder):
    long_text = "word " * 2000
    with pytest.warns(TruncationWarning, match=r"2 of 3 texts"):
        out = embedder.encode([long_text, "short", long_text + "more"])
    assert len(out) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for texts that fit
        embedder.encode(["short", "texts"])


def test_numpy_string_array_and_tuple_are_sequences(embedder):
    assert len(embedder.encode(np.array(["a", "b"]))) == 2
    assert len(embedder.encode(("a", "b"))) == 2


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "8"])
def test_bad_batch_size(embedder, size):
    with pytest.raises(InvalidInputError, match="batch_size"):
        embedder.encode(["x"], batch_size=size)


def test_bad_dimension_and_max_length(tiny_bert_dense_artifact):
    with pytest.raises(UnsupportedDimensionError):
        Tessera(tiny_bert_dense_artifact, dimension=0)
    with pytest.raises(InvalidInputError, match="max_length"):
        Tessera(tiny_bert_dense_artifact, max_length=10**6)
    short = Tessera(tiny_bert_dense_artifact, max_length=8)
    with pytest.warns(TruncationWarning):
        short.encode(["one two three four five six seven eight nine ten"])


def test_prompt_arguments(tiny_bert_dense_artifact):
    model = Tessera(tiny_bert_dense_artifact)
    with pytest.raises(InvalidInputError, match="prompt_name"):
        model.encode(["x"], prompt_name="nope")
    with pytest.raises(InvalidInputError):
        model.encode(["x"], prompt="a", prompt_name="b")
    with pytest.raises(TypeError):
        model.encode_queries(["x"], unknown=1)


def test_sparse_top_k_validation(tiny_splade_artifact):
    model = Tessera(tiny_splade_artifact)
    with pytest.raises(InvalidInputError, match="top_k"):
        model.encode(["x"], top_k=0)
