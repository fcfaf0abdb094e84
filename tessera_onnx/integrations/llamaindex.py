"""LlamaIndex adapter: :class:`TesseraEmbedding`, a ``llama_index.core`` ``BaseEmbedding``.

Needs ``pip install "tessera-onnx[llamaindex]"`` (llama-index-core)::

    from llama_index.core import Settings
    from tessera_onnx.integrations.llamaindex import TesseraEmbedding

    Settings.embed_model = TesseraEmbedding("all-minilm-l6-v2")

Query embeddings use the model's query prefix, text embeddings its document prefix.
"""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError
from ._embedder import dense_embedder, embed_texts

__all__ = ["TesseraEmbedding"]

try:
    from llama_index.core.base.embeddings.base import DEFAULT_EMBED_BATCH_SIZE, BaseEmbedding
    from pydantic import PrivateAttr
except ImportError:  # the class below then raises MissingDependencyError when built
    _HAVE_LLAMAINDEX = False
else:
    _HAVE_LLAMAINDEX = True

if _HAVE_LLAMAINDEX:

    class TesseraEmbedding(BaseEmbedding):
        """LlamaIndex embedding model backed by a tessera dense model.

        ``model``: a registry id, an artifact path, or a loaded ``TesseraDense``; ``options``
        go to :func:`tessera_onnx.Tessera` (``threads``, ``device``, ...).
        """

        _embedder: Any = PrivateAttr()

        def __init__(
            self,
            model: Any = "all-minilm-l6-v2",
            embed_batch_size: int = DEFAULT_EMBED_BATCH_SIZE,
            **options: Any,
        ) -> None:
            embedder = dense_embedder(model, options)
            super().__init__(
                model_name=str(getattr(embedder, "model_id", model)), embed_batch_size=embed_batch_size
            )
            self._embedder = embedder

        @classmethod
        def class_name(cls) -> str:
            """Name LlamaIndex records when serialising the settings."""
            return "TesseraEmbedding"

        @property
        def embedder(self) -> Any:
            """The underlying ``TesseraDense``."""
            return self._embedder

        def _get_query_embedding(self, query: str) -> list[float]:
            return embed_texts(self._embedder, [query], query=True)[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return embed_texts(self._embedder, [text], query=False)[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return embed_texts(self._embedder, list(texts), query=False)

else:

    class TesseraEmbedding:  # type: ignore[no-redef]
        """Placeholder that explains how to install LlamaIndex support."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise MissingDependencyError(
                'TesseraEmbedding needs llama-index-core: pip install "tessera-onnx[llamaindex]"'
            )
