"""The dense embedder behind the framework adapters: a ``TesseraDense`` or anything ``Tessera`` loads."""

from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidInputError


def dense_embedder(model: Any, options: dict[str, Any]) -> Any:
    """``model`` itself when it is a dense embedder, else ``Tessera(model, **options)`` (must be dense)."""
    if isinstance(model, (str, os.PathLike)):
        from ..factory import Tessera

        model = Tessera(model, **options)
    elif options:
        raise InvalidInputError(f"options {sorted(options)} apply only when the model is given by id or path")
    if getattr(model, "paradigm", None) != "dense":
        raise InvalidInputError(
            f"framework embeddings need a dense model; {getattr(model, 'model_id', model)!r} is "
            f"{getattr(model, 'paradigm', type(model).__name__)!r} (use tessera_onnx.index for ColBERT / SPLADE)"
        )
    return model


def embed_texts(embedder: Any, texts: list[str], query: bool) -> list[list[float]]:
    """Float lists for ``texts`` with the query or document encoder (``[]`` for no texts)."""
    if not texts:
        return []
    vectors = embedder.encode_queries(texts) if query else embedder.encode_documents(texts)
    return vectors.astype(float).tolist()
