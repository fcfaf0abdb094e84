"""The error contract, driven by hypothesis: wrong types, ranges and keywords raise TesseraErrors only.

Every public function, method and CLI command is called with arguments drawn from a pool of
wrong values (None, bools, negative and zero numbers, NaN, bytes, nested lists, dicts, odd
arrays, plain objects) and wrong or misspelled keywords, mixed with valid ones. A call may
succeed; if it fails, the exception must be a :class:`TesseraError`. For the command lines a
failure must exit with status 2 and print one ``error:`` line, with no traceback.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera_onnx import Tessera
from tessera_onnx.errors import InvalidInputError, TesseraError, UnknownOptionError
from tessera_onnx.index import (
    DenseIndex,
    Hit,
    MultiVectorIndex,
    SparseIndex,
    fuse,
    reciprocal_rank_fusion,
    weighted_score_fusion,
)
from tessera_onnx.ops.maxsim import maxsim, maxsim_scores, pad_multivectors
from tessera_onnx.quantization import (
    binary_maxsim,
    calibration_ranges,
    dequantize,
    exact_search,
    hamming_distances,
    int8_dot,
    int8_maxsim,
    quantize,
    quantized_maxsim_scores,
    search,
)

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([float("nan"), float("inf"), -1.5, 0.0, 2.5]),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.lists(st.one_of(st.integers(-2, 2), st.text(max_size=3), st.none()), max_size=3),
    st.lists(st.lists(st.floats(-1, 1), min_size=1, max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-1, 1), max_size=2),
    st.just(object()),
    st.just(np.zeros((2, 0), np.float32)),
    st.just(np.full((2, 4), np.nan, np.float32)),
    st.just(np.ones((1, 2, 3, 4), np.float32)),
    st.just(np.ones((3, 4), np.float32)),
)
TEXTS = st.one_of(JUNK, st.lists(st.text(max_size=12), max_size=3), st.text(max_size=12))
WRONG_NAMES = ["foo", "prompt_names", "normalise", "convert_to_tensor", "batchsize", "k"]
ST_NAMES = ["normalize_embeddings", "show_progress_bar", "convert_to_numpy"]


def keywords(valid: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword dicts mixing ``valid`` names, wrong names and sentence-transformers' names, junk values."""
    return st.dictionaries(st.sampled_from(valid + WRONG_NAMES + ST_NAMES), JUNK, max_size=3)


def holds(call: Callable[[], Any]) -> None:
    """Run ``call`` (draining an iterator result); only a TesseraError may escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = call()
            if isinstance(result, Iterator):
                list(result)
        except TesseraError:
            pass


# ----------------------------------------------------------------------------- text encoders

TEXT_OPTIONS = {
    "dense": ["batch_size", "show_progress", "prompt", "prompt_name", "dimension", "normalize", "raw_pooled"],
    "multi_vector": ["batch_size", "show_progress", "dimension", "padded", "is_query"],
    "sparse": ["batch_size", "show_progress", "top_k", "prompt", "prompt_name"],
}
TEXT_METHODS = ["encode", "encode_queries", "encode_documents", "encode_iter"]


@pytest.fixture(scope="module")
def dense(tiny_bert_dense_artifact):
    return Tessera(tiny_bert_dense_artifact, device="cpu", threads=1)


@pytest.fixture(scope="module")
def colbert(tiny_colbert_pylate_artifact):
    return Tessera(tiny_colbert_pylate_artifact, device="cpu", threads=1)


@pytest.fixture(scope="module")
def splade(tiny_splade_artifact):
    return Tessera(tiny_splade_artifact, device="cpu", threads=1)


@pytest.fixture(scope="module")
def text_models(dense, colbert, splade):
    return {"dense": dense, "multi_vector": colbert, "sparse": splade}


@pytest.mark.parametrize("paradigm", ["dense", "multi_vector", "sparse"])
def test_text_encoders_raise_only_tessera_errors(text_models, paradigm):
    model = text_models[paradigm]

    @SETTINGS
    @given(
        method=st.sampled_from(TEXT_METHODS + ["similarity"]),
        texts=TEXTS,
        other=TEXTS,
        kwargs=keywords(TEXT_OPTIONS[paradigm]),
    )
    def check(method: str, texts: Any, other: Any, kwargs: dict[str, Any]) -> None:
        if method == "similarity":
            holds(lambda: model.similarity(texts, other, **kwargs))
        else:
            holds(lambda: getattr(model, method)(texts, **kwargs))

    check()


@pytest.mark.parametrize("paradigm", ["dense", "multi_vector", "sparse"])
def test_constructor_arguments_raise_only_tessera_errors(text_models, paradigm):
    path = text_models[paradigm].path
    names = ["threads", "batch_size", "max_length", "device", "verify", "spin", "dimension", "top_k"]

    @settings(SETTINGS, max_examples=12)
    @given(kwargs=st.dictionaries(st.sampled_from(names + WRONG_NAMES), JUNK, max_size=2))
    def check(kwargs: dict[str, Any]) -> None:
        holds(lambda: Tessera(path, **kwargs))

    check()


def test_threads_out_of_range_is_a_tessera_error(dense):
    from tessera_onnx.session import create_session

    with pytest.raises(InvalidInputError, match="threads"):
        Tessera(dense.path, threads=-1)
    with pytest.raises(InvalidInputError, match="threads"):
        create_session(dense.path / dense.manifest.model_file, "cpu", -1)


def test_unknown_keyword_names_the_public_method_and_its_keywords(dense, colbert, splade):
    with pytest.raises(UnknownOptionError) as info:
        colbert.encode_queries(["a query"], prompt_name="query")
    message = str(info.value)
    assert "TesseraMultiVector.encode_queries()" in message and "_encode" not in message
    assert "batch_size" in message and "dimension" in message
    assert isinstance(info.value, TypeError)  # the mixin keeps `except TypeError` working
    with pytest.raises(UnknownOptionError, match=r"TesseraDense\.encode_iter\(\).*raw_pooled"):
        dense.encode_iter(["a"], normalise=True)
    with pytest.raises(UnknownOptionError, match=r"TesseraSparse\.encode\(\).*top_k"):
        splade.encode("a", normalize=True)
    with pytest.raises(
        UnknownOptionError,
        match=r"TesseraDense\(\) got unknown option\(s\) \['dimensions'\].*dimension.*max_length",
    ):
        Tessera(dense.path, dimensions=8)
    with pytest.raises(UnknownOptionError, match=r"DenseIndex\.search\(\).*rescore_multiplier"):
        DenseIndex(2).search(np.ones(2, np.float32), k=1, rescore=2)


@pytest.mark.parametrize("paradigm", ["dense", "multi_vector", "sparse"])
def test_encode_iter_checks_batch_size_at_the_call(text_models, paradigm):
    model = text_models[paradigm]
    for bad in (0, -1, 2.5, "8"):
        with pytest.raises(InvalidInputError, match="batch_size"):
            model.encode_iter(["some text"] * 3, batch_size=bad)  # not iterated: fails at the call
        with pytest.raises(InvalidInputError, match="batch_size"):
            model.encode(["some text"], batch_size=bad)


def test_sentence_transformers_spellings(dense, colbert):
    texts = ["a first text", "another, longer second text"]
    plain = dense.encode(texts, normalize=True)
    aliased = dense.encode(texts, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True)
    np.testing.assert_allclose(aliased, plain, rtol=0, atol=0)
    np.testing.assert_allclose(
        dense.encode_queries(texts, normalize_embeddings=True), dense.encode_queries(texts, normalize=True)
    )
    streamed = np.stack(list(dense.encode_iter(texts, normalize_embeddings=True)))
    np.testing.assert_allclose(streamed, plain, rtol=0, atol=1e-6)
    with pytest.raises(InvalidInputError, match="numpy"):
        dense.encode(texts, convert_to_numpy=False)
    with pytest.raises(UnknownOptionError, match="normalize_embeddings"):
        dense.encode(texts, normalize=True, normalize_embeddings=True)
    rows = colbert.encode_documents(texts, show_progress_bar=False, convert_to_numpy=True)
    for a, b in zip(rows, colbert.encode_documents(texts), strict=True):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- indexes, fusion


def _hits(ids: list[Any]) -> list[Hit]:
    return [Hit(i, 1.0 / (r + 1), {}) for r, i in enumerate(ids)]


def test_reciprocal_rank_fusion_takes_lists_of_ranked_lists():
    assert reciprocal_rank_fusion([[], []]) == []
    fused = reciprocal_rank_fusion([_hits(["a", "b"]), _hits(["b", "c"])], k=60)
    named = reciprocal_rank_fusion({"x": _hits(["a", "b"]), "y": _hits(["b", "c"])}, k=60)
    assert fused == named and fused[0].id == "b"
    weighted = reciprocal_rank_fusion([_hits(["a"]), _hits(["b"])], weights=[1.0, 2.0])
    assert [h.id for h in weighted] == ["b", "a"]


@SETTINGS
@given(results=JUNK, k=JUNK, kwargs=keywords(["weights", "limit", "normalize", "method"]))
def test_fusion_raises_only_tessera_errors(results, k, kwargs):
    holds(lambda: reciprocal_rank_fusion(results, k, **kwargs))
    holds(lambda: weighted_score_fusion(results, **kwargs))
    holds(lambda: fuse(results, **kwargs))
    holds(lambda: reciprocal_rank_fusion([_hits(["a"]), results], **kwargs))


INDEXES = {
    "dense": lambda: DenseIndex(4),
    "dense-int8": lambda: DenseIndex(4, compression="int8"),
    "multi_vector": lambda: MultiVectorIndex(4),
    "sparse": lambda: SparseIndex(),
}


@pytest.mark.parametrize("kind", sorted(INDEXES))
def test_indexes_raise_only_tessera_errors(kind):
    @SETTINGS
    @given(
        ids=JUNK,
        vectors=JUNK,
        metadata=JUNK,
        query=JUNK,
        k=JUNK,
        kwargs=keywords(["filter", "exact", "rescore_multiplier"]),
    )
    def check(ids, vectors, metadata, query, k, kwargs):
        index = INDEXES[kind]()
        holds(lambda: index.add(ids, vectors, metadata))
        holds(lambda: index.add(["x"], vectors))
        holds(lambda: index.search(query, k, **kwargs))
        holds(lambda: index.search(query))
        holds(lambda: index.delete(ids))
        holds(lambda: type(index)(k, **kwargs))

    check()


# ----------------------------------------------------------------------------- quantization, MaxSim


@SETTINGS
@given(a=JUNK, b=JUNK, c=JUNK, kwargs=keywords(["scheme", "ranges", "k", "rescore_with", "reconstruction"]))
def test_quantization_and_maxsim_raise_only_tessera_errors(a, b, c, kwargs):
    corpus = quantize(np.eye(4, dtype=np.float32), "int8")
    holds(lambda: quantize(a, b, **kwargs))
    holds(lambda: quantize(np.ones((2, 4), np.float32), a, ranges=b))
    holds(lambda: dequantize(a, **kwargs))
    holds(lambda: dequantize(corpus, a))
    holds(lambda: calibration_ranges(a, b))
    holds(lambda: search(a, corpus, b, **kwargs))
    holds(lambda: search(np.ones(4, np.float32), a, b))
    holds(lambda: exact_search(a, b, c))
    holds(lambda: hamming_distances(a, b))
    holds(lambda: int8_dot(a, b))
    holds(lambda: binary_maxsim(a, b, c))
    holds(lambda: int8_maxsim(a, b))
    holds(lambda: quantized_maxsim_scores(a, corpus))
    holds(lambda: quantized_maxsim_scores(a, b))
    holds(lambda: maxsim_scores(a, b, **kwargs))
    holds(lambda: maxsim(a, b))
    holds(lambda: pad_multivectors(a))


# ----------------------------------------------------------------------------- time series, hyperbolic


@pytest.fixture(scope="module")
def timeseries():
    from ts_fixtures import tiny_artifact

    return Tessera(tiny_artifact("plain"), device="cpu", threads=1)


def test_timeseries_raise_only_tessera_errors(timeseries):
    @SETTINGS
    @given(
        series=st.one_of(JUNK, st.lists(st.floats(-10, 10), min_size=1, max_size=40)),
        method=st.sampled_from(["forecast", "encode", "similarity"]),
        kwargs=keywords(["horizon", "freq", "per_channel"]),
    )
    def check(series, method, kwargs):
        if method == "similarity":
            holds(lambda: timeseries.similarity(series, series, **kwargs))
        else:
            holds(lambda: getattr(timeseries, method)(series, **kwargs))

    check()


@pytest.fixture(scope="module")
def hyperbolic(tmp_path_factory):
    from tessera_onnx.hyperbolic import transitive_closure, write_artifact

    tree = transitive_closure([("a", "root"), ("b", "root"), ("a.1", "a"), ("b.1", "b")])
    vectors = np.random.default_rng(0).normal(size=(tree.n_nodes, 3)).astype(np.float32) * 0.2
    path = write_artifact(tmp_path_factory.mktemp("hyp") / "tiny", tree, vectors)
    return Tessera(path)


def test_hyperbolic_raises_only_tessera_errors(hyperbolic):
    names = st.one_of(
        JUNK, st.sampled_from(["a", "b.1", "root", "nope"]), st.lists(st.sampled_from(["a", "b"]))
    )

    @SETTINGS
    @given(
        x=names,
        y=names,
        method=st.sampled_from(["encode", "distance", "nearest", "is_a_score", "ids", "query_vectors"]),
        kwargs=keywords(["k", "exclude_self", "alpha"]),
    )
    def check(x, y, method, kwargs):
        call = getattr(hyperbolic, method)
        if method in ("distance", "is_a_score"):
            holds(lambda: call(x, y, **kwargs))
        elif method == "nearest":
            holds(lambda: call(x, y if not isinstance(y, str) else 2, **kwargs))
        else:
            holds(lambda: call(x, **kwargs))

    check()


# ----------------------------------------------------------------------------- command lines


def _one_error_line(result: Any) -> None:
    """A failed command: status 2, one ``error:`` line, no traceback; a success: status 0."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the command raised {result.exception!r}") from result.exception
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.stderr
        assert "Traceback" not in result.stderr


OPTIONS = [
    "--batch-size",
    "--dimension",
    "--top-k",
    "--threads",
    "--device",
    "--field",
    "--horizon",
    "--nope",
]
VALUES = ["0", "-1", "abc", "3", "cpu", "tpu", "", "text"]


def test_tessera_cli_errors_are_one_line_and_status_2(tiny_bert_dense_artifact, tmp_path):
    model = str(tiny_bert_dense_artifact)
    runner = CliRunner()
    from tessera_onnx.cli import main

    @settings(SETTINGS, max_examples=30)
    @given(
        command=st.sampled_from(
            ["encode", "similarity", "info", "models", "embed-images", "classify", "forecast", "embed-series"]
        ),
        positional=st.lists(st.sampled_from([model, "-", "/nonexistent", "x", "", "--queries"]), max_size=3),
        options=st.lists(st.tuples(st.sampled_from(OPTIONS), st.sampled_from(VALUES)), max_size=2),
    )
    def check(command, positional, options):
        args = [command, *positional, *(token for pair in options for token in pair)]
        _one_error_line(runner.invoke(main, args, input="first text\nsecond text\n"))

    check()


def test_tessera_cli_debug_prints_the_traceback(tmp_path):
    from tessera_onnx.cli import main

    runner = CliRunner()
    quiet = runner.invoke(main, ["info", str(tmp_path / "missing")])
    assert quiet.exit_code == 2 and len(quiet.stderr.strip().splitlines()) == 1
    assert quiet.stderr.startswith("error: ")
    loud = runner.invoke(main, ["--debug", "info", str(tmp_path / "missing")])
    assert loud.exit_code == 2 and "Traceback" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1] == quiet.stderr.strip()


@pytest.mark.export
def test_tessera_export_cli_errors_are_one_line_and_status_2(tiny_bert_dense_artifact, tmp_path):
    pytest.importorskip("onnx")
    from tessera_export.cli import main

    runner = CliRunner()

    @settings(SETTINGS, max_examples=15)
    @given(
        args=st.sampled_from(
            [
                ["build"],
                ["build", "--out", str(tmp_path / "o"), "--precision", "int9"],
                [
                    "build",
                    "--out",
                    str(tmp_path / "o"),
                    "--from-dir",
                    str(tmp_path),
                    "--int8-profile",
                    "split",
                ],
                [
                    "build",
                    "--out",
                    str(tmp_path / "o"),
                    "--matryoshka-dims",
                    "a,b",
                    "--from-dir",
                    str(tmp_path),
                ],
                ["verify"],
                ["verify", str(tmp_path / "missing")],
                ["verify", str(tmp_path)],
                ["list", "--paradigm", "nope"],
                ["nope"],
            ]
        ),
        debug=st.booleans(),
    )
    def check(args, debug):
        result = runner.invoke(main, (["--debug"] if debug else []) + args)
        if debug:
            assert result.exit_code == 2 and result.stderr.strip().splitlines()[-1].startswith("error: ")
        else:
            _one_error_line(result)
            assert result.exit_code == 2

    check()


def test_public_wrapper_names_the_function_and_keeps_the_cause():
    from tessera_onnx.arguments import CheckedArguments, accepts, public
    from tessera_onnx.errors import InvalidArgumentError

    @public
    def scale(x: float, *, factor: float = 2.0) -> float:
        return float(x) * factor

    assert scale(3, factor=3) == 9.0
    with pytest.raises(UnknownOptionError, match=r"scale\(\) got unknown option\(s\) \['fator'\].*factor"):
        scale(3, fator=3)
    with pytest.raises(InvalidArgumentError, match=r"scale\(\) cannot take these arguments"):
        scale(1, 2)
    with pytest.raises(InvalidInputError, match=r"scale\(\) cannot use its arguments") as info:
        scale("three")
    assert isinstance(info.value.__cause__, ValueError)

    class Thing(CheckedArguments):
        def __init__(self, size: int = 1) -> None:
            self.size = size

        @accepts("a", "b")
        def run(self, **kwargs: Any) -> dict[str, Any]:
            return kwargs

        def items(self, n: int) -> Iterator[int]:
            yield from range(n)
            raise IndexError("past the end")

    assert Thing().run(a=1) == {"a": 1}
    with pytest.raises(
        UnknownOptionError, match=r"Thing\.run\(\) got unknown option\(s\) \['c'\]; it accepts \['a', 'b'\]"
    ):
        Thing().run(c=1)
    with pytest.raises(UnknownOptionError, match=r"Thing\(\) got unknown option\(s\) \['sise'\]"):
        Thing(sise=2)
    with pytest.raises(
        InvalidInputError, match=r"Thing\.items\(\) cannot use its arguments \(past the end\)"
    ):
        list(Thing().items(2))  # errors of later generator steps follow the contract too
