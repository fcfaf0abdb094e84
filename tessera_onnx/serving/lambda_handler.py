"""A handler for AWS Lambda-style function platforms: JSON event in, JSON out, one model per container.

Deploy the runtime dependencies, ``tessera_onnx`` and one artifact directory together (see the
README's serverless section), and set the handler to
``tessera_onnx.serving.lambda_handler.handler``. Environment:

- ``TESSERA_MODEL``: the artifact directory (default: ``model`` under ``$LAMBDA_TASK_ROOT`` or the
  working directory);
- ``TESSERA_THREADS``: onnxruntime threads (default: all the function's cores).

The model is loaded once per container, on the first invocation, and reused by the next ones.
The request is an OpenAI embeddings body (``input``, ``encoding_format``, ``dimensions``; ``model``
is ignored: the function serves one model), either as the event itself (direct invocation) or
as the ``body`` of an API Gateway / function-URL event (then the answer is
``{"statusCode", "headers", "body"}``). Errors use OpenAI's envelope and HTTP status codes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from . import protocol
from .engine import Engine, EngineLimits, SyncEngine
from .pool import ModelConfig

__all__ = ["handler", "get_engine"]

_STATE: dict[str, Any] = {}


def _model_dir() -> Path:
    explicit = os.environ.get("TESSERA_MODEL")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("LAMBDA_TASK_ROOT", ".")) / "model"


def get_engine() -> tuple[SyncEngine, str]:
    """The container's engine and model name (created and loaded on the first call)."""
    if "engine" not in _STATE:
        threads = os.environ.get("TESSERA_THREADS")
        options: dict[str, Any] = {"device": "cpu"}
        if threads:
            options["threads"] = int(threads)
        config = ModelConfig(_model_dir(), preload=True, options=options)
        engine = Engine([config], limits=EngineLimits(batch_window_ms=0.0))
        _STATE["name"] = next(iter(engine.pool.slots))
        _STATE["engine"] = SyncEngine(engine)
    return _STATE["engine"], _STATE["name"]


def _is_http(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and "body" in event
        and any(k in event for k in ("requestContext", "httpMethod", "rawPath", "headers"))
    )


def _body(event: dict[str, Any]) -> Any:
    """The JSON body of an API Gateway / function-URL event (base64 when ``isBase64Encoded``)."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        return raw  # a test harness passing the body already decoded
    if event.get("isBase64Encoded"):
        try:
            return protocol.decode_json(base64.b64decode(raw, validate=True))
        except binascii.Error as exc:
            raise InvalidInputError(f"the request body is marked base64 but is not: {exc}") from None
    return protocol.decode_json(raw)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Embed the texts of one OpenAI-style request with the container's model."""
    http = _is_http(event)
    try:
        body = _body(event) if http else event
        engine, name = get_engine()
        if isinstance(body, dict):
            body = {**body, "model": name}
        request = protocol.parse_embeddings_request(body, default_model=name)
        texts = engine.decode_tokens(name, request.inputs) if request.token_input else request.inputs
        result = engine.embed(name, texts, dimension=request.dimensions)
        status = 200
        payload = protocol.embeddings_response(
            name, result.data, request.encoding_format, result.total_tokens
        )
    except Exception as exc:  # noqa: BLE001 - every error becomes an error envelope
        status, kind, code = protocol.error_status(exc)
        payload = protocol.openai_error(str(exc), kind, code)
    if not http:
        return payload if status == 200 else {"statusCode": status, **payload}
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload, separators=(",", ":")),
    }
