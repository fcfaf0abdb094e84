"""The HTTP server: OpenAI-compatible embeddings, text-embeddings-inference routes, forecasts, metrics.

Routes (``create_app(engine)``; ``tessera serve`` runs it under uvicorn):

- ``POST /v1/embeddings``, ``GET /v1/models``, ``GET /v1/models/{id}``: OpenAI's API (errors in
  OpenAI's envelope ``{"error": {"message", "type", "param", "code"}}``).
- ``POST /embed`` (dense), ``/embed_sparse`` (SPLADE), ``/embed_all`` (ColBERT token vectors),
  ``/rerank``: text-embeddings-inference's shapes (errors as ``{"error", "error_type"}``); the
  extra field ``model`` picks a model when several are served.
- ``POST /forecast``: time-series forecasts. ``GET /health``, ``GET /metrics`` (Prometheus).

Status codes: 401 bad API key, 404 unknown model, 413 body/inputs/tokens over a limit, 422
malformed input, 429 too many requests in flight or queue full (with ``Retry-After``), 503 the
request waited past the queue timeout (with ``Retry-After``), 499 never leaves (the client is gone).

Admission (:mod:`tessera_onnx.serving.admission`) happens in ASGI middleware before the body is
read: a POST that arrives when the in-flight limits are reached is answered 429 at once.
"""

# no `from __future__ import annotations`: FastAPI reads the route annotations at definition time

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..errors import (
    InvalidInputError,
    LimitExceededError,
    MissingDependencyError,
    ModelNotFoundError,
    OverloadedError,
    TesseraError,
)
from ..paradigms import paradigms_offering
from . import protocol
from .admission import Admission, current_ticket, estimate_tokens
from .engine import Engine
from .metrics import ServerMetrics
from .rerank import add_v1_rerank_route, tei_rerank_rows

__all__ = ["create_app"]

_JSON = "application/json"


def _fastapi() -> Any:
    try:
        import fastapi
    except ImportError as exc:
        raise MissingDependencyError(
            "the HTTP server needs FastAPI and uvicorn: pip install 'tessera-onnx[serve]'"
        ) from exc
    return fastapi


class _ClientGone(Exception):
    """The client disconnected while its request was queued or running."""


class _AuthAndSize:
    """ASGI middleware: API-key check (``Authorization: Bearer KEY``) and ``Content-Length`` limit."""

    def __init__(self, app: Any, api_key: str | None, max_body: int) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body = max_body

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        if self.api_key and path != "/health":
            auth = headers.get(b"authorization", b"").decode("latin-1")
            if auth != f"Bearer {self.api_key}":
                await _send_error(
                    scope,
                    send,
                    401,
                    "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    "authentication_error",
                    "invalid_api_key",
                )
                return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _send_error(
                scope,
                send,
                413,
                _too_large(int(length), self.max_body),
                "invalid_request_error",
                "request_too_large",
            )
            return
        await self.app(scope, receive, send)


class _Admit:
    """ASGI middleware: admit each POST before its body is read (429 + ``Retry-After`` if not).

    The admitted request's ticket is put in :data:`current_ticket` for the engine (its arrival
    time is the queue deadline's start) and released when the response has been sent.
    """

    def __init__(self, app: Any, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        try:
            ticket = self.admission.enter(estimate_tokens(int(length)) if length.isdigit() else 0)
        except OverloadedError as exc:
            await _send_error(scope, send, 429, str(exc), "rate_limit_error", "overloaded", exc.retry_after)
            return
        status = 0

        async def send_watched(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        reset = current_ticket.set(ticket)
        try:
            await self.app(scope, receive, send_watched)
        finally:
            current_ticket.reset(reset)
            self.admission.leave(ticket, served=status == 200)


def _too_large(size: int, limit: int) -> str:
    return (
        f"the request body has {size} bytes; the limit is {limit}: send fewer or shorter inputs per request"
    )


def _error_body(path: str, message: str, kind: str, code: str) -> dict[str, Any]:
    return (
        protocol.openai_error(message, kind, code)
        if path.startswith("/v1/")
        else protocol.tei_error(message, code)
    )


async def _send_error(
    scope: dict,
    send: Callable,
    status: int,
    message: str,
    kind: str,
    code: str,
    retry_after: float | None = None,
) -> None:
    body = json.dumps(_error_body(scope.get("path", ""), message, kind, code)).encode()
    headers = [(b"content-type", _JSON.encode()), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(math.ceil(retry_after)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    engine: Engine,
    *,
    api_key: str | None = None,
    max_body_bytes: int = 4 << 20,
    manage_engine: bool = True,
) -> Any:
    """The FastAPI application serving ``engine``.

    ``api_key``: require ``Authorization: Bearer <key>`` on every route but ``/health``.
    ``max_body_bytes``: larger request bodies get 413. ``manage_engine``: start and close the
    engine with the app's lifespan.
    """
    fastapi = _fastapi()
    from starlette.responses import Response

    metrics = ServerMetrics(engine)
    engine.add_observer(metrics.on_batch)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        if manage_engine:
            await engine.start()
        try:
            yield
        finally:
            if manage_engine:
                await engine.close()

    app = fastapi.FastAPI(title="tessera-onnx", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.engine = engine
    app.state.metrics = metrics

    def respond(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(obj, separators=(",", ":"), allow_nan=False)
        return Response(body, status_code=status, media_type=_JSON, headers=headers)

    async def read_json(request: Any) -> Any:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise LimitExceededError(_too_large(size, max_body_bytes))
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks) or b"null")
        except ValueError as exc:
            raise InvalidInputError(f"the request body is not valid JSON: {exc}") from exc

    async def until_disconnect(request: Any) -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                return

    async def run(request: Any, work: Awaitable[Any]) -> Any:
        """Await ``work``, cancelling it (its queued inputs are dropped) if the client goes away."""
        task = asyncio.ensure_future(work)
        watcher = asyncio.ensure_future(until_disconnect(request))
        try:
            done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if task in done:
            return task.result()
        task.cancel()
        raise _ClientGone()

    def default_model(paradigms: tuple[str, ...]) -> str | None:
        return next((s.name for s in engine.pool.slots.values() if s.paradigm in paradigms), None)

    async def handle(request: Any, route: str, work: Callable[[Any], Awaitable[tuple[str, Any]]]) -> Response:
        """Read the body, run ``work(body) -> (model, response)``, map errors, record metrics."""
        start = time.perf_counter()
        model = "-"
        try:
            body = await read_json(request)
            if isinstance(body, dict) and body.get("model") in engine.pool.slots:  # bounded label values
                model = body["model"]
            model, payload = await run(request, work(body))
            response = respond(payload)
        except _ClientGone:
            metrics.observe_request(model, route, 499, time.perf_counter() - start)
            return Response(status_code=499)
        except Exception as exc:  # noqa: BLE001 - every error becomes an HTTP error body
            status, kind, code = protocol.error_status(exc)
            message = (
                str(exc) if status != 500 or isinstance(exc, TesseraError) else f"internal error: {exc!r}"
            )
            headers = (
                {"Retry-After": str(math.ceil(exc.retry_after))} if isinstance(exc, OverloadedError) else None
            )
            response = respond(_error_body(request.url.path, message, kind, code), status, headers)
        metrics.observe_request(model, route, response.status_code, time.perf_counter() - start)
        return response

    # ------------------------------------------------------------------ OpenAI

    @app.post("/v1/embeddings")
    async def openai_embeddings(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            req = protocol.parse_embeddings_request(body)
            texts = await engine.decode_tokens(req.model, req.inputs) if req.token_input else req.inputs
            result = await engine.embed(req.model, texts, dimension=req.dimensions)
            return req.model, protocol.embeddings_response(
                req.model, result.data, req.encoding_format, result.total_tokens
            )

        return await handle(request, "/v1/embeddings", work)

    def model_card(slot: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": slot["name"],
            "object": "model",
            "created": 0,
            "owned_by": "tessera-onnx",
            "paradigm": slot["paradigm"],
            "loaded": slot["loaded"],
        }

    @app.get("/v1/models")
    async def openai_models() -> Response:
        return respond({"object": "list", "data": [model_card(m) for m in engine.list_models()]})

    @app.get("/v1/models/{model_id:path}")
    async def openai_model(model_id: str) -> Response:
        try:
            return respond(model_card(engine.pool.slot(model_id).describe()))
        except ModelNotFoundError as exc:
            return respond(protocol.openai_error(str(exc), "invalid_request_error", "model_not_found"), 404)

    # ------------------------------------------------------------------ text-embeddings-inference

    def tei_model(body: Any, paradigms: tuple[str, ...]) -> str:
        name = protocol.field(body, "model", str, default_model(paradigms))
        if name is None:
            raise ModelNotFoundError(f"no {' or '.join(paradigms)} model is served here")
        return name

    def tei_texts(body: Any) -> tuple[list[str], bool]:
        if not isinstance(body, dict) or "inputs" not in body:
            raise InvalidInputError("'inputs' is required: a string or a list of strings")
        items, tokens, single = protocol.parse_inputs(body["inputs"], "inputs")
        if tokens:
            raise InvalidInputError("'inputs' must be strings on this route")
        return items, single  # type: ignore[return-value]

    @app.post("/embed")
    async def tei_embed(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, ("dense",))
            texts, _ = tei_texts(body)
            result = await engine.embed(
                model,
                texts,
                dimension=protocol.field(body, "dimensions", int),
                normalize=protocol.field(body, "normalize", bool, True),
                prompt_name=protocol.field(body, "prompt_name", str),
                truncate=protocol.field(body, "truncate", bool, False),
            )
            return model, result.data.tolist()

        return await handle(request, "/embed", work)

    @app.post("/embed_sparse")
    async def tei_embed_sparse(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, ("sparse",))
            texts, _ = tei_texts(body)
            result = await engine.embed_sparse(
                model,
                texts,
                top_k=protocol.field(body, "top_k", int),
                truncate=protocol.field(body, "truncate", bool, False),
            )
            return model, [protocol.sparse_to_json(e) for e in result.data]

        return await handle(request, "/embed_sparse", work)

    @app.post("/embed_all")
    async def tei_embed_all(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, ("multi_vector",))
            texts, _ = tei_texts(body)
            result = await engine.embed_multi_vector(
                model,
                texts,
                is_query=protocol.field(body, "is_query", bool, False),
                truncate=protocol.field(body, "truncate", bool, False),
            )
            return model, [m.tolist() for m in result.data]

        return await handle(request, "/embed_all", work)

    @app.post("/rerank")
    async def tei_rerank(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, paradigms_offering("rerank"))
            query = protocol.field(body, "query", str, required=True)
            texts = protocol.field(body, "texts", list, required=True)
            return_text = protocol.field(body, "return_text", bool, False)
            result = await engine.rerank(
                model,
                query,
                texts,
                truncate=protocol.field(body, "truncate", bool, False),
                raw=protocol.field(body, "raw_scores", bool, False),
            )
            return model, tei_rerank_rows(result.data, texts, return_text)

        return await handle(request, "/rerank", work)

    add_v1_rerank_route(app, engine, handle, tei_model, paradigms_offering("rerank"))

    # ------------------------------------------------------------------ time series

    @app.post("/forecast")
    async def forecast(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, ("timeseries",))
            series = protocol.field(body, "series", list, required=True)
            result = await engine.forecast(
                model,
                series,
                horizon=protocol.field(body, "horizon", int),
                freq=protocol.field(body, "freq", str),
            )
            return model, {"model": model, "forecasts": [f.tolist() for f in result.data]}

        return await handle(request, "/forecast", work)

    # ------------------------------------------------------------------ operations

    @app.get("/health")
    async def health() -> Response:
        return respond({"status": "ok", "models": engine.list_models()})

    @app.get("/metrics")
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.add_middleware(_Admit, admission=engine.admission)  # inner: after the key and size checks
    app.add_middleware(_AuthAndSize, api_key=api_key, max_body=max_body_bytes)
    return app
