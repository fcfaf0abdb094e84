"""Dense runtime vs sentence-transformers, batching, Matryoshka, prompts, thread safety."""

from __future__ import annotations

import json
import threading
import warnings

import numpy as np
import pytest

from tessera_onnx import Tessera, TesseraDense
from tessera_onnx.errors import InvalidInputError, TruncationWarning, UnsupportedDimensionError


def varied_texts(n: int = 300) -> list[str]:
    from tiny_models import corpus_sentences

    base = list(corpus_sentences())
    rng = np.random.default_rng(7)
    out = [
        "",
        "   ",
        "a",
        "Hello, world!",
        "  leading and trailing spaces  ",
        "Ünïcödé façade — naïve café, 日本語のテキスト, emoji 🙂🚀, Ελληνικά, русский текст",
        "tab\tseparated\nnew lines\r\nand \x00 control \x07 chars",
        " ".join(base[:80]),  # far beyond 256 tokens: truncated
    ]
    while len(out) < n:
        k = int(rng.choice([1, 1, 1, 2, 3, 6, 12]))
        picks = rng.choice(len(base), size=k, replace=False)
        out.append(" ".join(base[i] for i in picks))
    return out


@pytest.fixture(scope="module")
def minilm(minilm_artifact) -> TesseraDense:
    return Tessera(minilm_artifact, threads=2)


@pytest.fixture(scope="module")
def tiny_dense(tiny_bert_dense_artifact) -> TesseraDense:
    """The committed tiny dense artifact: for behaviour that does not depend on real weights."""
    return Tessera(tiny_bert_dense_artifact, threads=2)


@pytest.fixture(scope="module")
def st_model(minilm_dir):
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(minilm_dir), device="cpu")


@pytest.mark.export
def test_minilm_matches_sentence_transformers(minilm, st_model):
    texts = varied_texts(300)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = minilm.encode(texts, batch_size=16)
    assert any(issubclass(w.category, TruncationWarning) for w in caught)
    ref = st_model.encode(texts, batch_size=32, convert_to_numpy=True)
    assert ours.shape == (300, 384) and ours.dtype == np.float32
    cos = np.sum(ours * ref, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() >= 0.9999, (cos.argmin(), cos.min())
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    single = minilm.encode(texts[5])
    assert single.shape == (384,)


def test_batch_size_never_changes_results(tiny_dense):
    texts = varied_texts(60)
    big = tiny_dense.encode(texts, batch_size=64)
    one = np.stack([tiny_dense.encode([t], batch_size=1)[0] for t in texts])
    np.testing.assert_allclose(big, one, atol=1e-5)
    odd = tiny_dense.encode(texts, batch_size=3)
    np.testing.assert_allclose(big, odd, atol=1e-5)


def test_default_batch_size_depends_on_the_provider(tiny_dense):
    from tessera_onnx.text.batching import CPU_BATCH_SIZE, DEFAULT_BATCH_SIZE, default_batch_size

    assert tiny_dense.provider == "CPUExecutionProvider" and tiny_dense.batch_size == CPU_BATCH_SIZE == 16
    assert default_batch_size("CUDAExecutionProvider") == DEFAULT_BATCH_SIZE == 32
    assert type(tiny_dense)(tiny_dense.path, device="cpu", batch_size=48).batch_size == 48
    with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
        type(tiny_dense)(tiny_dense.path, device="cpu", batch_size=0)


def test_order_is_restored(tiny_dense):
    texts = ["short", "a much longer text " * 20, "mid length text here"]
    together = tiny_dense.encode(texts)
    for i, t in enumerate(texts):
        np.testing.assert_allclose(together[i], tiny_dense.encode(t), atol=1e-5)


def test_thread_safety(tiny_dense):
    texts = varied_texts(40)
    expected = tiny_dense.encode(texts)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            chunk = texts[k::4]
            results[k] = tiny_dense.encode(chunk, batch_size=2 + k)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(4):
        np.testing.assert_allclose(results[k], expected[k::4], atol=1e-5)


@pytest.mark.export
def test_similarity_info_dimension(minilm):
    emb = minilm.encode(["cats purr", "kittens meow", "stock markets fell"])
    sim = minilm.similarity(emb, emb)
    assert sim.shape == (3, 3) and sim[0, 1] > sim[0, 2]
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-5)
    np.testing.assert_allclose(minilm.similarity(["cats purr"], ["kittens meow"]), sim[:1, 1:2], atol=1e-5)
    info = minilm.info()
    assert info["paradigm"] == "dense" and info["dim"] == 384 and info["device"] == "cpu"
    assert info["max_length"] == 256
    json.dumps(info)
    assert minilm.dimension == 384
    with pytest.raises(UnsupportedDimensionError):
        minilm.encode("x", dimension=385)


def test_matryoshka_truncate_then_renormalise(matryoshka_artifact):
    model = Tessera(matryoshka_artifact)
    full = model.encode(["a sentence", "another one"])
    cut = model.encode(["a sentence", "another one"], dimension=16)
    assert cut.shape == (2, 16)
    ref = full[:, :16] / np.linalg.norm(full[:, :16], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, ref, atol=1e-6)
    fixed = Tessera(matryoshka_artifact, dimension=8)
    assert fixed.dimension == 8 and fixed.encode(["x"]).shape == (1, 8)
    with pytest.raises(UnsupportedDimensionError, match="16"):
        Tessera(matryoshka_artifact, dimension=0)
    raw = model.encode(["a sentence"], raw_pooled=True)
    assert not np.isclose(np.linalg.norm(raw), 1.0)


def test_prefixes_and_prompts(matryoshka_artifact):
    model = Tessera(matryoshka_artifact)
    np.testing.assert_allclose(model.encode_queries(["cats"]), model.encode(["query: cats"]), atol=1e-6)
    np.testing.assert_allclose(model.encode_documents(["cats"]), model.encode(["passage: cats"]), atol=1e-6)
    np.testing.assert_allclose(
        model.encode(["cats"], prompt_name="classification"), model.encode(["classify: cats"]), atol=1e-6
    )
    np.testing.assert_allclose(model.encode(["cats"], prompt="x: "), model.encode(["x: cats"]), atol=1e-6)


@pytest.mark.export
def test_tiny_dense_matches_sentence_transformers(tiny_bert_dense_artifact, tiny_bert_dir):
    st = pytest.importorskip("sentence_transformers")
    texts = varied_texts(40)
    ref = st.SentenceTransformer(str(tiny_bert_dir), device="cpu").encode(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        ours = Tessera(tiny_bert_dense_artifact).encode(texts)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
