"""Reranking on the server: cross-encoder scoring and the ``/rerank`` and ``/v1/rerank`` payloads.

- A **cross-encoder** model (paradigm ``cross_encoder``) scores each ``(query, text)`` pair with
  ``TesseraCrossEncoder.predict`` in a worker thread; ``raw`` (TEI ``raw_scores``) returns the
  logits instead of the activated scores (sigmoid for one-label rerankers, as TEI).
- A **bi-encoder** (dense, ColBERT, SPLADE) keeps the engine's similarity reranking (cosine,
  MaxSim, dot product); ``raw_scores`` does not apply to it.

Payloads: TEI ``POST /rerank`` ``{query, texts, truncate, raw_scores, return_text}`` →
``[{"index", "score", "text"?}]`` best first; Cohere/Jina ``POST /v1/rerank`` ``{model, query,
documents (str or {"text"}), top_n, return_documents}`` → ``{"model", "results": [{"index",
"relevance_score", "document": {"text"}?}], "usage": {"total_tokens"}}``.
"""

# no `from __future__ import annotations`: FastAPI reads the route annotations at definition time
import asyncio
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError, LimitExceededError
from ..text.tokenize import validate_texts
from . import protocol

__all__ = ["cross_encoder_rerank", "ranked_order", "tei_rerank_rows", "v1_rerank_payload", "v1_documents"]

CROSS_ENCODER = "cross_encoder"


async def cross_encoder_rerank(
    engine: Any, model: str, query: Any, texts: Any, truncate: bool, raw: bool
) -> tuple[np.ndarray, list[int]]:
    """Scores ``(len(texts),)`` float32 of ``query`` with the cross-encoder ``model``, and each pair's tokens.

    Checks the request like the engine's other routes: input count, token limit (pair lengths
    after truncation), over-long pairs with ``truncate=False`` (``LimitExceededError``).
    """
    if not isinstance(query, str):
        raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise InvalidInputError("query is empty: pass the text to rank the candidates against")
    docs, _ = validate_texts(texts)
    if not docs:
        raise InvalidInputError("texts is empty: pass at least one candidate text")
    engine._check_count(len(docs))
    slot = engine.pool.slot(model)
    scorer = await engine.pool.ensure_loaded(slot.name)
    pairs = [(query, d) for d in docs]
    loop = asyncio.get_running_loop()
    ids, _ = await loop.run_in_executor(
        engine._prep, lambda: scorer.tokenizer.encode_pairs(pairs, scorer.max_length, warn=False)
    )
    lengths = [int(n) for n in ids.lengths]
    if ids.truncated and not truncate:
        first = next(i for i, n in enumerate(lengths) if n >= scorer.max_length)
        raise LimitExceededError(
            f"query + text {first} is longer than the model's maximum of {scorer.max_length} tokens; "
            "shorten it or set truncate=true to cut it to the maximum"
        )
    engine._check_tokens(lengths)

    def score() -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # truncation was allowed by the caller
            return scorer.predict(pairs, raw=raw)

    slot.in_use += 1
    try:
        scores = await loop.run_in_executor(engine._executor, score)
    finally:
        slot.in_use -= 1
    return np.asarray(scores, dtype=np.float32).reshape(len(docs), -1)[:, 0], lengths


def ranked_order(scores: Sequence[float]) -> list[int]:
    """Indices by descending score, ties in input order."""
    values = np.asarray(scores, dtype=np.float64)
    return np.lexsort((np.arange(len(values)), -values)).tolist()


def tei_rerank_rows(scores: Sequence[float], texts: Sequence[str], return_text: bool) -> list[dict[str, Any]]:
    """TEI's ``/rerank`` response: ``[{"index", "score", "text"?}]`` best first."""
    rows = []
    for i in ranked_order(scores):
        row: dict[str, Any] = {"index": i, "score": float(scores[i])}
        if return_text:
            row["text"] = texts[i]
        rows.append(row)
    return rows


def v1_documents(body: Any) -> list[str]:
    """The ``documents`` of a Cohere/Jina rerank request: strings or ``{"text": str}`` objects."""
    docs = protocol.field(body, "documents", list, required=True)
    out = []
    for i, doc in enumerate(docs):
        if isinstance(doc, dict):
            doc = doc.get("text")
        if not isinstance(doc, str):
            raise InvalidInputError(f"documents[{i}] must be a string or an object with a 'text' string")
        out.append(doc)
    return out


def v1_rerank_payload(
    model: str,
    scores: Sequence[float],
    docs: Sequence[str],
    top_n: int | None,
    return_documents: bool,
    tokens: int,
) -> dict[str, Any]:
    """The Cohere/Jina ``/v1/rerank`` response for ``scores`` of ``docs``."""
    if top_n is not None and top_n < 1:
        raise InvalidInputError(f"'top_n' must be a positive integer, got {top_n}")
    results = []
    for i in ranked_order(scores)[:top_n]:
        row: dict[str, Any] = {"index": i, "relevance_score": float(scores[i])}
        if return_documents:
            row["document"] = {"text": docs[i]}
        results.append(row)
    return {"object": "list", "model": model, "results": results, "usage": {"total_tokens": int(tokens)}}


def add_v1_rerank_route(
    app: Any,
    engine: Any,
    handle: Callable[[Any, str, Callable[[Any], Awaitable[tuple[str, Any]]]], Awaitable[Any]],
    pick_model: Callable[[Any, str], str],
) -> None:
    """Register ``POST /v1/rerank`` (Cohere/Jina request and response) on ``app``.

    ``pick_model(body, "rerank")`` names the model (the body's, else the first offering reranking).
    """
    import fastapi

    @app.post("/v1/rerank")
    async def v1_rerank(request: fastapi.Request) -> Any:
        async def work(body: Any) -> tuple[str, Any]:
            model = pick_model(body, "rerank")
            query = protocol.field(body, "query", str, required=True)
            docs = v1_documents(body)
            top_n = protocol.field(body, "top_n", int)
            return_documents = protocol.field(body, "return_documents", bool, False)
            truncate = protocol.field(body, "truncate", bool, True)
            result = await engine.rerank(model, query, docs, truncate=truncate)
            return model, v1_rerank_payload(
                model, result.data, docs, top_n, return_documents, result.total_tokens
            )

        return await handle(request, "/v1/rerank", work)
