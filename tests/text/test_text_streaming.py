"""Bounded memory on big inputs: windows, flat numpy ids, the character cut, encode_iter, sparse_dot."""

from __future__ import annotations

import functools
import itertools
import tracemalloc
import warnings

import numpy as np
import pytest

from tessera_onnx import Tessera
from tessera_onnx.errors import InvalidInputError, TruncationWarning
from tessera_onnx.sparse_embedding import SparseEmbedding, sparse_dot
from tessera_onnx.text import tokenize
from tessera_onnx.text.tokenize import TextTokenizer, Tokenized

pytestmark = pytest.mark.filterwarnings("ignore::tessera_onnx.errors.TruncationWarning")


def _texts(n: int) -> list[str]:
    from tiny_models import corpus_sentences

    base = list(corpus_sentences())
    rng = np.random.default_rng(3)
    return [" ".join(base[int(i)] for i in rng.integers(0, len(base), size=1 + k % 4)) for k in range(n)]


class _Spy:
    """Wraps a ``tokenizers.Tokenizer``: records the size of every encode_batch call and the longest text."""

    def __init__(self, tok):
        self.tok, self.calls, self.longest = tok, [], 0

    def encode_batch(self, texts, **kwargs):
        self.calls.append(len(texts))
        self.longest = max([self.longest, *map(len, texts)])
        return self.tok.encode_batch(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tok, name)


def _spy(embedder) -> _Spy:
    tok = embedder.tokenizer
    spy = _Spy(tok._truncating(tok.max_length))
    tok._by_length[tok.max_length] = spy
    return spy


@pytest.fixture()
def tiny_dense(tiny_bert_dense_artifact):
    return Tessera(tiny_bert_dense_artifact, device="cpu", threads=1)


def test_encode_tokenizes_in_windows_with_identical_results(tiny_dense):
    texts = _texts(tokenize.WINDOW + 700)
    spy = _spy(tiny_dense)
    whole = tiny_dense.encode(texts)
    assert max(spy.calls) <= tokenize.WINDOW  # today's main tokenizes all texts in one call
    assert whole.shape == (len(texts), tiny_dense.dimension)
    pieces = np.concatenate([tiny_dense.encode(texts[i : i + 500]) for i in range(0, len(texts), 500)])
    np.testing.assert_allclose(whole, pieces, atol=1e-6)  # windows change nothing but memory


@pytest.mark.parametrize("kind", ["dense", "colbert", "splade"])
def test_encode_iter_streams_a_generator_in_order(
    kind, tiny_bert_dense_artifact, tiny_colbert_pylate_artifact, tiny_splade_artifact
):
    path = {
        "dense": tiny_bert_dense_artifact,
        "colbert": tiny_colbert_pylate_artifact,
        "splade": tiny_splade_artifact,
    }[kind]
    model = Tessera(path, device="cpu", threads=1)
    texts = _texts(tokenize.WINDOW + 300)
    consumed = []

    def source():
        for t in texts:
            consumed.append(t)
            yield t

    stream = model.encode_iter(source())
    first = next(stream)
    assert len(consumed) <= tokenize.WINDOW  # only the first window was read
    rest = list(stream)
    assert len(rest) + 1 == len(texts)
    sample = [0, 1, tokenize.WINDOW - 1, tokenize.WINDOW, len(texts) - 1]
    expected = model.encode([texts[i] for i in sample])
    got = [first, *rest]
    for j, i in enumerate(sample):
        if kind == "splade":
            assert got[i].indices.tolist() == expected[j].indices.tolist()
            np.testing.assert_allclose(got[i].values, expected[j].values, atol=1e-5)
        else:
            np.testing.assert_allclose(got[i], expected[j], atol=1e-5)


def test_encode_accepts_a_generator_and_checks_items(tiny_dense):
    texts = _texts(50)
    np.testing.assert_allclose(tiny_dense.encode(t for t in texts), tiny_dense.encode(texts), atol=1e-6)
    with pytest.raises(InvalidInputError, match=r"texts\[3\]"):
        list(tiny_dense.encode_iter(iter(["a", "b", "c", 4])))
    with pytest.raises(InvalidInputError, match=r"texts\[1\]"):
        tiny_dense.encode(["a", None])


def test_tokenized_holds_flat_numpy_ids():
    tokens = Tokenized([[101, 7, 102], [101, 102], [101, 5, 6, 7, 102]], truncated=0)
    assert tokens.flat.dtype == np.int64 and tokens.flat.size == 10
    ids, mask = tokens.pad(np.array([2, 1]), pad_id=0)
    assert ids.tolist() == [[101, 5, 6, 7, 102], [101, 102, 0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    ids, mask = tokens.pad(np.array([1]), pad_id=9, length=4, side="left")
    assert ids.tolist() == [[9, 9, 101, 102]] and mask.tolist() == [[0, 0, 1, 1]]
    marked = tokens.with_token(1, 1)
    assert [x.tolist() for x in marked.ids] == [[101, 1, 7, 102], [101, 1, 102], [101, 1, 5, 6, 7, 102]]


@functools.cache
def _long_texts() -> dict[str, str]:
    words = " ".join(_texts(200))  # every text is far over 128 x tokenize.CHARS_PER_TOKEN characters
    return {
        "prose": words,
        "whitespace_run": "start " + " " * 50_000 + words,
        "newlines": ("line of text\n" * 5_000),
        "cjk": "日本語のテキストと中文文本" * 2_000,
        "no_space": "x" * 50_000,
        "punctuation": "a,b.c;d!" * 5_000,
    }


@pytest.fixture(scope="module")
def xlmr_dir(tmp_path_factory):
    """A unigram (sentencepiece-style, Metaspace) tokenizer.json, next to the WordPiece ones."""
    from tiny_models import build_tokenizer

    path = tmp_path_factory.mktemp("xlmr-tokenizer")
    build_tokenizer("xlm-roberta").backend_tokenizer.save(str(path / "tokenizer.json"))
    return path


@pytest.mark.parametrize("name", sorted(_long_texts()))
@pytest.mark.parametrize(
    "fixture",
    [
        "tiny_bert_dense_artifact",  # WordPiece (committed)
        "tiny_siglip_artifact",  # Unigram + Metaspace (committed)
        "colidefics3_artifact",  # byte-level BPE (committed)
        pytest.param("minilm_dir", marks=pytest.mark.export),  # real WordPiece vocabularies
        pytest.param("splade_dir", marks=pytest.mark.export),
        pytest.param("xlmr_dir", marks=pytest.mark.export),  # trained at test time (transformers)
    ],
)
def test_character_cut_keeps_the_truncated_tokens(name, fixture, request):
    path = request.getfixturevalue(fixture) / "tokenizer.json"
    from tokenizers import Tokenizer

    text = _long_texts()[name]
    ours = TextTokenizer(path, 128)
    spy = _Spy(ours._truncating(128))
    ours._by_length[128] = spy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        got = ours.encode([text, "short text"])
    reference = Tokenizer.from_file(str(path))
    reference.no_padding()
    reference.enable_truncation(max_length=128)
    expected = [e.ids for e in reference.encode_batch([text, "short text"])]
    assert [x.tolist() for x in got.ids] == expected
    assert got.truncated == (1 if len(expected[0]) == 128 else 0)
    # whenever the first 128 x tokenize.CHARS_PER_TOKEN characters already overflow 128 tokens, the tokenizer
    # never sees more of the text (main tokenizes each text whole); a whitespace run, or a long run
    # the vocabulary maps to one unknown token, needs more of the text and gets it
    if reference.encode(text[: 128 * tokenize.CHARS_PER_TOKEN - 1]).overflowing:
        assert spy.longest <= 128 * tokenize.CHARS_PER_TOKEN
    else:
        assert name in ("whitespace_run", "no_space", "cjk")


def test_ten_megabyte_text_is_cut_before_tokenizing(tiny_dense):
    spy = _spy(tiny_dense)
    text = "word " * 2_000_000
    vec = tiny_dense.encode(text)
    assert vec.shape == (tiny_dense.dimension,)
    assert spy.longest <= tiny_dense.max_length * tokenize.CHARS_PER_TOKEN
    np.testing.assert_allclose(vec, tiny_dense.encode("word " * 20_000), atol=1e-6)


def test_sparse_dot_is_a_sparse_product():
    rng = np.random.default_rng(0)

    def emb(k: int, vocab: int = 30522) -> SparseEmbedding:
        return SparseEmbedding(
            rng.choice(vocab, k, replace=False), rng.random(k).astype(np.float32), dim=vocab
        )

    small_a, small_b = [emb(30, 300) for _ in range(5)], [emb(int(k), 300) for k in rng.integers(0, 60, 9)]
    dense = np.stack([e.to_dense(300) for e in small_a]) @ np.stack([e.to_dense(300) for e in small_b]).T
    np.testing.assert_allclose(sparse_dot(small_a, small_b), dense, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse_dot(small_b, small_a), dense.T, rtol=1e-5, atol=1e-6)
    assert sparse_dot([], small_b).shape == (0, 9)

    query, docs = [emb(40)], [emb(200) for _ in range(3000)]  # ids spread over the whole vocabulary
    tracemalloc.start()
    try:
        scores = sparse_dot(query, docs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scores.shape == (1, 3000)
    # a dense matrix over the union of ids would be 3001 x ~30k float32 = ~360 MB
    assert peak < 40 << 20, f"peak {peak / 2**20:.0f} MiB"
    assert scores[0, 7] == pytest.approx(query[0].dot(docs[7]), rel=1e-5)


def test_windows_of_a_sequence_are_slices():
    windows, single, total = tokenize.iter_windows(["a"] * 5, size=2)
    assert not single and total == 5
    assert [len(w) for w in windows] == [2, 2, 1]
    windows, single, total = tokenize.iter_windows(itertools.repeat("x", 3), size=2)
    assert total is None and [len(w) for w in windows] == [2, 1]
