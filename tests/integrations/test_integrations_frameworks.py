"""LangChain (langchain-tests' standard suites) and LlamaIndex adapters, and their missing-extra errors.

The standard suites run against the tiny random BERT dense artifact (offline); LlamaIndex has no
published standard suite, so its own public API is exercised here, including a real
``VectorStoreIndex`` retrieval with all-MiniLM-L6-v2.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tessera_onnx.errors import InvalidInputError

langchain_tests = pytest.importorskip("langchain_tests")
from langchain_tests.integration_tests import EmbeddingsIntegrationTests  # noqa: E402
from langchain_tests.unit_tests import EmbeddingsUnitTests  # noqa: E402

from tessera_onnx.integrations.langchain import TesseraEmbeddings  # noqa: E402


class _TinyModel:
    artifact = None

    @pytest.fixture(autouse=True)
    def _artifact(self, tiny_bert_dense_artifact):
        type(self).artifact = tiny_bert_dense_artifact

    @property
    def embeddings_class(self):
        return TesseraEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": str(self.artifact), "threads": 1}


class TestTesseraEmbeddingsUnit(_TinyModel, EmbeddingsUnitTests):
    """langchain-tests' standard unit tests."""


class TestTesseraEmbeddingsIntegration(_TinyModel, EmbeddingsIntegrationTests):
    """langchain-tests' standard integration tests (offline: the model is a local artifact)."""


def test_langchain_vectors_match_the_runtime(tiny_bert_dense_artifact):
    from tessera_onnx import Tessera

    model = Tessera(tiny_bert_dense_artifact, threads=1)
    emb = TesseraEmbeddings(model)
    texts = ["a first text", "and a second, longer one"]
    np.testing.assert_allclose(emb.embed_documents(texts), model.encode_documents(texts), rtol=1e-6)
    np.testing.assert_allclose(emb.embed_query("q"), model.encode_queries("q"), rtol=1e-6)
    assert emb.embed_documents([]) == []
    with pytest.raises(InvalidInputError, match="only when the model is given"):
        TesseraEmbeddings(model, threads=2)


def test_framework_adapters_refuse_non_dense_models(tiny_splade_artifact):
    with pytest.raises(InvalidInputError, match="need a dense model"):
        TesseraEmbeddings(str(tiny_splade_artifact))


@pytest.mark.export
def test_llamaindex_embedding(minilm_artifact):
    pytest.importorskip("llama_index.core")
    from llama_index.core import Document, VectorStoreIndex

    from tessera_onnx import Tessera
    from tessera_onnx.integrations.llamaindex import TesseraEmbedding

    model = Tessera(minilm_artifact, threads=2)
    emb = TesseraEmbedding(model, embed_batch_size=2)
    assert emb.class_name() == "TesseraEmbedding" and emb.model_name == "all-minilm-l6-v2"
    texts = ["The cat sleeps on the sofa.", "Interest rates rose again.", "Bake bread with flour and water."]
    np.testing.assert_allclose(emb.get_text_embedding_batch(texts), model.encode_documents(texts), rtol=1e-5)
    np.testing.assert_allclose(emb.get_query_embedding("cats"), model.encode_queries("cats"), rtol=1e-5)
    np.testing.assert_allclose(emb.get_text_embedding(texts[0]), model.encode_documents(texts[0]), rtol=1e-5)
    import asyncio

    np.testing.assert_allclose(
        asyncio.run(emb.aget_query_embedding("cats")), model.encode_queries("cats"), rtol=1e-5
    )
    index = VectorStoreIndex.from_documents([Document(text=t) for t in texts], embed_model=emb)
    nodes = index.as_retriever(similarity_top_k=1).retrieve("where is the kitten napping?")
    assert nodes[0].node.get_content() == texts[0]


_BLOCKED = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
from tessera_onnx.errors import MissingDependencyError
import tessera_onnx.integrations.{module} as mod
try:
    {call}
except MissingDependencyError as exc:
    print("MISSING:", exc)
"""


@pytest.mark.parametrize(
    "module, blocked, call, extra",
    [
        (
            "langchain",
            ["langchain_core", "langchain_core.embeddings"],
            "mod.TesseraEmbeddings('x')",
            "langchain",
        ),
        (
            "llamaindex",
            ["llama_index", "llama_index.core", "llama_index.core.base.embeddings.base"],
            "mod.TesseraEmbedding('x')",
            "llamaindex",
        ),
        (
            "qdrant",
            ["qdrant_client", "qdrant_client.models"],
            "mod.QdrantIndex(None, 'c', dense_dim=4)",
            "qdrant",
        ),
    ],
)
def test_missing_library_names_its_extra(module, blocked, call, extra):
    code = _BLOCKED.format(blocked=blocked, module=module, call=call)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"tessera-onnx[{extra}]" in out, out
