"""The second stages of :class:`~tessera_onnx.index.Retriever`: cross-encoder reranking and MMR.

``rerank_hits`` rescores first-stage hits with a cross-encoder (``TesseraCrossEncoder`` or any
object with its ``rank(query, documents)``); ``diversify_hits`` reorders hits by maximal
marginal relevance over the documents' vectors in a dense index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError, UnknownIdError
from .base import DocId, Hit
from .mmr import maximal_marginal_relevance

__all__ = ["rerank_hits", "diversify_hits", "check_reranker"]


def check_reranker(reranker: Any) -> None:
    """Raise :class:`InvalidInputError` unless ``reranker`` is a one-label cross-encoder."""
    if not callable(getattr(reranker, "rank", None)):
        raise InvalidInputError(
            f"reranker must be a cross-encoder (tessera_onnx.Tessera of a cross_encoder artifact), "
            f"got {type(reranker).__name__}"
        )
    if getattr(reranker, "num_labels", 1) != 1:
        raise InvalidInputError(
            f"reranker must have one label (a relevance score), it has {reranker.num_labels}"
        )


def rerank_hits(
    reranker: Any, query: str, hits: Sequence[Hit], text_of: Callable[[DocId], str], **options: Any
) -> list[Hit]:
    """``hits`` rescored by ``reranker`` for ``query``, best first (scores are the cross-encoder's).

    ``text_of(id)`` gives a document's text; ``options`` go to ``reranker.rank`` (``batch_size``,
    ``activation_fn``, ...).
    """
    if not hits:
        return []
    texts = []
    for hit in hits:
        try:
            texts.append(text_of(hit.id))
        except KeyError:
            raise UnknownIdError(
                f"no text is stored for document {hit.id!r}; the rerank stage needs the texts: add "
                "documents through this Retriever (keep_texts=True) or pass text_of="
            ) from None
    ranked = reranker.rank(query, texts, **options)
    return [Hit(hits[r["corpus_id"]].id, float(r["score"]), hits[r["corpus_id"]].metadata) for r in ranked]


def diversify_hits(
    hits: Sequence[Hit], vector_of: Callable[[DocId], np.ndarray], k: int, lambda_: float
) -> list[Hit]:
    """The ``k`` of ``hits`` chosen by maximal marginal relevance (their scores as relevance)."""
    if not hits:
        return []
    vectors = np.stack([np.asarray(vector_of(h.id), dtype=np.float32) for h in hits])
    order = maximal_marginal_relevance(np.array([h.score for h in hits]), vectors, k, lambda_)
    return [hits[i] for i in order.tolist()]
