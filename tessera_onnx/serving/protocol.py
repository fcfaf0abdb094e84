"""Request parsing and response shapes of the wire APIs (OpenAI embeddings, text-embeddings-inference).

Plain Python + numpy, no web framework: the HTTP app and the serverless handler both use it.
Parsers take the decoded JSON body and raise :class:`~tessera_onnx.errors.InvalidInputError`
(HTTP 422) with a message naming the field and what to send instead.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import (
    ArtifactError,
    InvalidInputError,
    LimitExceededError,
    ModelNotFoundError,
    OverloadedError,
    QueueTimeoutError,
    ShuttingDownError,
    SlowClientError,
    TesseraError,
)
from .echo import clip

__all__ = [
    "EmbeddingsRequest",
    "clip",
    "decode_json",
    "parse_embeddings_request",
    "embeddings_response",
    "float32_base64",
    "field",
    "parse_inputs",
    "sparse_to_json",
    "multi_vector_json",
    "openai_error",
    "tei_error",
    "error_status",
]


def decode_json(raw: bytes | str) -> Any:
    """A request body (UTF-8 JSON) decoded; :class:`InvalidInputError` (422) for anything that is
    not: invalid UTF-8, invalid JSON, or nesting deeper than the parser's recursion limit."""
    try:
        return json.loads(raw or b"null")
    except RecursionError:
        raise InvalidInputError(
            "the request body nests arrays/objects too deeply: send a flat list of inputs"
        ) from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidInputError(
            f"the request body is not valid JSON (UTF-8 text): {clip(str(exc), 200)}"
        ) from None


def field(
    body: Any, name: str, types: type | tuple[type, ...], default: Any = None, required: bool = False
) -> Any:
    """``body[name]`` checked against ``types`` (bool is never accepted as int)."""
    if not isinstance(body, dict):
        raise InvalidInputError(f"the request body must be a JSON object, got {type(body).__name__}")
    if name not in body or body[name] is None:
        if required:
            raise InvalidInputError(f"'{name}' is required")
        return default
    value = body[name]
    wanted = types if isinstance(types, tuple) else (types,)
    if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
        names = " or ".join(t.__name__ for t in wanted)
        raise InvalidInputError(f"'{name}' must be {names}, got {type(value).__name__}")
    return value


def parse_inputs(value: Any, name: str = "input") -> tuple[list[str] | list[list[int]], bool, bool]:
    """A str, list of str, list of token ids or list of token-id lists → ``(items, tokens?, single?)``."""
    if isinstance(value, str):
        if not value:
            raise InvalidInputError(f"'{name}' is an empty string: send text to embed")
        return [value], False, True
    if not isinstance(value, list) or not value:
        raise InvalidInputError(
            f"'{name}' must be a string, a non-empty list of strings, or token-id arrays, got "
            f"{'an empty list' if isinstance(value, list) else type(value).__name__}"
        )
    if all(isinstance(v, str) for v in value):
        empty = next((i for i, v in enumerate(value) if not v), None)
        if empty is not None:
            raise InvalidInputError(f"'{name}[{empty}]' is an empty string: send text to embed, or drop it")
        return list(value), False, False
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [list(value)], True, True
    if all(isinstance(v, list) for v in value):
        for i, row in enumerate(value):
            if not row or not all(isinstance(t, int) and not isinstance(t, bool) for t in row):
                raise InvalidInputError(f"'{name}[{i}]' must be a non-empty list of integer token ids")
        return [list(v) for v in value], True, False
    bad = next(i for i, v in enumerate(value) if not isinstance(v, str))
    raise InvalidInputError(
        f"'{name}[{bad}]' is {type(value[bad]).__name__}; send strings only, or token-id lists only"
    )


@dataclass(frozen=True)
class EmbeddingsRequest:
    """A parsed OpenAI ``POST /v1/embeddings`` body."""

    model: str
    inputs: list[str] | list[list[int]]
    token_input: bool
    encoding_format: str
    dimensions: int | None
    items: list[tuple[str, Any]] | None = None  # text/image items (multimodal input), else None
    series: Any = None  # the raw ``input`` with ``"modality": "series"`` (the engine parses it), else None
    freq: str | None = None  # sampling frequency of the series (time-series models with a frequency token)


def parse_embeddings_request(body: Any, default_model: str | None = None) -> EmbeddingsRequest:
    """Validate an OpenAI embeddings request (``input``, ``model``, ``encoding_format``, ``dimensions``)."""
    model = field(body, "model", str, default_model, required=default_model is None)
    if "input" not in body:
        raise InvalidInputError("'input' is required: a string, a list of strings, or token-id arrays")
    from .media import MODALITIES, is_multimodal, parse_items

    modality = field(body, "modality", str, "text")
    if modality not in (*MODALITIES, "series"):
        raise InvalidInputError(f"'modality' must be one of {[*MODALITIES, 'series']}, got {clip(modality)}")
    items = series = None
    if modality == "series":
        series, inputs, tokens = body["input"], [], False
    elif is_multimodal(body["input"], modality):
        items = parse_items(body["input"], modality)
        inputs, tokens = [], False
    else:
        inputs, tokens, _single = parse_inputs(body["input"])
    fmt = field(body, "encoding_format", str, "float")
    if fmt not in ("float", "base64"):
        raise InvalidInputError(f"'encoding_format' must be 'float' or 'base64', got {clip(fmt)}")
    dims = field(body, "dimensions", int)
    if dims is not None and dims < 1:
        raise InvalidInputError(f"'dimensions' must be a positive integer, got {dims}")
    if series is not None and dims is not None:
        raise InvalidInputError("'dimensions' is not offered for series embeddings: leave it out")
    freq = field(body, "freq", str)
    return EmbeddingsRequest(model, inputs, tokens, fmt, dims, items, series, freq)


def float32_base64(vector: np.ndarray) -> str:
    """Little-endian float32 bytes, base64-encoded (what OpenAI's ``encoding_format=base64`` sends)."""
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


def embeddings_response(
    model: str, vectors: np.ndarray, encoding_format: str, prompt_tokens: int
) -> dict[str, Any]:
    """The OpenAI ``list`` object of ``embedding`` objects with ``usage``."""
    rows = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if encoding_format == "base64":
        data = [float32_base64(v) for v in rows]
    else:
        data = rows.tolist()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(data)],
        "model": model,
        "usage": {"prompt_tokens": int(prompt_tokens), "total_tokens": int(prompt_tokens)},
    }


def multi_vector_json(matrix: np.ndarray, encoding_format: str) -> Any:
    """A token matrix ``(tokens, d)`` as nested lists, or ``{"shape", "data"}`` with base64 float32."""
    m = np.asarray(matrix, dtype=np.float32)
    if encoding_format == "base64":
        return {"shape": list(m.shape), "data": float32_base64(m)}
    return m.tolist()


def sparse_to_json(embedding: Any) -> list[dict[str, Any]]:
    """A :class:`~tessera_onnx.SparseEmbedding` as TEI's ``[{"index": i, "value": w}, ...]``."""
    return [
        {"index": int(i), "value": float(v)}
        for i, v in zip(
            np.asarray(embedding.indices).tolist(), np.asarray(embedding.values).tolist(), strict=True
        )
    ]


def openai_error(
    message: str, kind: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def tei_error(message: str, kind: str) -> dict[str, Any]:
    """text-embeddings-inference's error body."""
    return {"error": message, "error_type": kind}


def error_status(exc: BaseException) -> tuple[int, str, str]:
    """HTTP status, OpenAI error ``type`` and ``code`` for an exception."""
    if isinstance(exc, ModelNotFoundError):
        return 404, "invalid_request_error", "model_not_found"
    if isinstance(exc, LimitExceededError):
        return 413, "invalid_request_error", "request_too_large"
    if isinstance(exc, QueueTimeoutError):
        return 503, "server_error", "queue_timeout"
    if isinstance(exc, ShuttingDownError):
        return 503, "server_error", "shutting_down"
    if isinstance(exc, SlowClientError):
        return 408, "invalid_request_error", "request_timeout"
    if isinstance(exc, OverloadedError):
        return 429, "rate_limit_error", "overloaded"
    if isinstance(exc, InvalidInputError):
        return 422, "invalid_request_error", "invalid_input"
    if isinstance(exc, ArtifactError):
        return 503, "server_error", "model_unavailable"
    if isinstance(exc, TesseraError):
        return 500, "server_error", "model_error"
    return 500, "server_error", "internal_error"
