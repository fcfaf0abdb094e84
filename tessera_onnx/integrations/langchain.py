"""LangChain adapter: :class:`TesseraEmbeddings`, a ``langchain_core.embeddings.Embeddings``.

Needs ``pip install "tessera-onnx[langchain]"`` (langchain-core)::

    from tessera_onnx.integrations.langchain import TesseraEmbeddings

    embeddings = TesseraEmbeddings("all-minilm-l6-v2")      # id, artifact path, or a TesseraDense
    embeddings.embed_documents(["first text", "second"])   # document prefix of the model, if any
    embeddings.embed_query("a question")                   # query prefix of the model, if any

Use it wherever LangChain takes ``Embeddings`` (vector stores, retrievers). Passes
``langchain-tests``' standard ``EmbeddingsUnitTests`` and ``EmbeddingsIntegrationTests``.
"""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError
from ._embedder import dense_embedder, embed_texts

__all__ = ["TesseraEmbeddings"]

try:
    from langchain_core.embeddings import Embeddings
except ImportError:  # the class below then raises MissingDependencyError when built
    Embeddings = object  # type: ignore[assignment,misc]
    _HAVE_LANGCHAIN = False
else:
    _HAVE_LANGCHAIN = True


class TesseraEmbeddings(Embeddings):  # type: ignore[misc,valid-type]
    """LangChain ``Embeddings`` backed by a tessera dense model.

    ``model``: a registry id, an artifact path, or a loaded ``TesseraDense``; ``options`` go to
    :func:`tessera_onnx.Tessera` (``threads``, ``device``, ``batch_size``, ...).
    """

    def __init__(self, model: Any = "all-minilm-l6-v2", **options: Any) -> None:
        if not _HAVE_LANGCHAIN:
            raise MissingDependencyError(
                'TesseraEmbeddings needs langchain-core: pip install "tessera-onnx[langchain]"'
            )
        self.embedder = dense_embedder(model, options)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector (list of floats) per text, with the model's document prefix."""
        return embed_texts(self.embedder, list(texts), query=False)

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query, with the model's query prefix."""
        return embed_texts(self.embedder, [text], query=True)[0]
