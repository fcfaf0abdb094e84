"""The HTTP server: OpenAI-compatible embeddings, text-embeddings-inference routes, forecasts, metrics.

Routes (``create_app(engine)``; ``tessera serve`` runs it under uvicorn):

- ``POST /v1/embeddings``, ``GET /v1/models``, ``GET /v1/models/{id}``: OpenAI's API (errors in
  OpenAI's envelope ``{"error": {"message", "type", "param", "code"}}``).
  ``/v1/embeddings`` also takes images for image–text models (data URL / base64 items,
  ``modality``; :mod:`tessera_onnx.serving.media`) and time series for time-series models
  (``"modality": "series"``; :mod:`tessera_onnx.serving.series`).
- ``POST /embed`` (dense), ``/embed_sparse`` (SPLADE), ``/embed_all`` (ColBERT token vectors),
  ``/similarity``, ``/rerank``: text-embeddings-inference's shapes (errors as
  ``{"error", "error_type"}``); the extra field ``model`` picks a model when several are served.
- ``POST /pages/embed``, ``/pages/queries``, ``/pages/search``: ColPali-family page retrieval.
- ``POST /forecast``: time-series forecasts. ``GET /health``, ``GET /metrics`` (Prometheus).

Which models a route accepts comes from the ``server`` field of the paradigm table
(:mod:`tessera_onnx.serving.offers`).

Status codes: 401 bad API key, 404 unknown model or route, 405 wrong method, 408 the body did
not arrive within ``body_timeout_s``, 413 body/inputs/tokens over a limit, 422 malformed input,
429 too many requests in flight (in all, or from this client) or queue full (with
``Retry-After``), 503 the request waited past the queue timeout or the server is shutting down
(with ``Retry-After``), 499 never leaves (the client is gone). Every error body is OpenAI's
envelope, except on the TEI routes (TEI's ``{"error", "error_type"}``).

Admission (:mod:`tessera_onnx.serving.admission`) happens in ASGI middleware before the body is
read: a POST that arrives when the in-flight limits are reached is answered 429 at once; the
tokens a request holds are reserved as its body bytes arrive (never from ``Content-Length``), and
its body must be complete within ``body_timeout_s``.
"""

# no `from __future__ import annotations`: FastAPI reads the route annotations at definition time

import asyncio
import contextlib
import hmac
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np

from ..errors import (
    InvalidInputError,
    LimitExceededError,
    MissingDependencyError,
    ModelNotFoundError,
    OverloadedError,
    ShuttingDownError,
    SlowClientError,
    TesseraError,
)
from . import protocol
from .admission import Admission, current_ticket, estimate_tokens
from .engine import Engine
from .media import decode_image_ref
from .metrics import ServerMetrics
from .offers import offers
from .rerank import add_v1_rerank_route, tei_rerank_rows

__all__ = ["create_app"]

_JSON = "application/json"
# Routes answering errors in text-embeddings-inference's shape; everything else uses OpenAI's.
_TEI_ROUTES = frozenset({"/embed", "/embed_sparse", "/embed_all", "/similarity", "/rerank", "/forecast"})
# (/pages/* answer errors in OpenAI's envelope, like /v1/*)


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
    """ASGI middleware: API-key check (``Authorization: Bearer KEY``, every route, compared in
    constant time) and ``Content-Length`` limit."""

    def __init__(self, app: Any, api_key: str | None, max_body: int) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None
        self.max_body = max_body

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.expected is not None:
            if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
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

    While the server drains for shutdown every request gets 503. The admitted request's ticket
    is put in :data:`current_ticket` for the engine (its arrival time is the queue deadline's
    start); its tokens are reserved as body bytes arrive, the body must be complete within
    ``body_timeout_s`` (:class:`SlowClientError`, 408), and the ticket is released when the
    response has been sent.
    """

    def __init__(self, app: Any, admission: Admission, body_timeout_s: float | None) -> None:
        self.app = app
        self.admission = admission
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.admission.draining:
            exc = ShuttingDownError("the server is shutting down and accepts no new requests", 5)
            await _send_error(scope, send, 503, str(exc), "server_error", "shutting_down", 5, close=True)
            return
        if scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        try:
            ticket = self.admission.enter(0, client[0] if client else None)
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
            await self.app(scope, self._metered(receive, ticket), send_watched)
        finally:
            current_ticket.reset(reset)
            self.admission.leave(ticket, served=status == 200)

    def _metered(self, receive: Callable, ticket: Any) -> Callable:
        """``receive`` reserving tokens for the bytes read and enforcing the body deadline."""
        loop = asyncio.get_running_loop()
        deadline = None if not self.body_timeout_s else loop.time() + self.body_timeout_s
        received = 0
        complete = False

        async def receive_metered() -> dict:
            nonlocal received, complete
            if complete:
                return await receive()
            if deadline is None:
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    raise SlowClientError(
                        f"the request body did not arrive within {self.body_timeout_s:g} s of its "
                        "headers: send the whole body at once"
                    ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                grow = estimate_tokens(received) - ticket.tokens
                if grow > 0:
                    self.admission.reserve(ticket, grow)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return receive_metered


def _too_large(size: int, limit: int) -> str:
    return (
        f"the request body has {size} bytes; the limit is {limit}: send fewer or shorter inputs per request"
    )


def _error_body(path: str, message: str, kind: str, code: str) -> dict[str, Any]:
    return (
        protocol.tei_error(message, code)
        if path in _TEI_ROUTES
        else protocol.openai_error(message, kind, code)
    )


async def _send_error(
    scope: dict,
    send: Callable,
    status: int,
    message: str,
    kind: str,
    code: str,
    retry_after: float | None = None,
    close: bool = False,
) -> None:
    body = json.dumps(_error_body(scope.get("path", ""), message, kind, code)).encode()
    headers = [(b"content-type", _JSON.encode()), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(math.ceil(retry_after)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    engine: Engine,
    *,
    api_key: str | None = None,
    max_body_bytes: int = 4 << 20,
    body_timeout_s: float | None = 10.0,
    manage_engine: bool = True,
) -> Any:
    """The FastAPI application serving ``engine``.

    ``api_key``: require ``Authorization: Bearer <key>`` on every route (``/health`` included).
    ``max_body_bytes``: larger request bodies get 413. ``body_timeout_s``: a body still incomplete
    this long after its headers gets 408 (None or 0: no limit). ``manage_engine``: start and close
    the engine with the app's lifespan.
    """
    fastapi = _fastapi()
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
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
        return protocol.decode_json(b"".join(chunks))

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

    def default_model(group: str) -> str | None:
        return next((s.name for s in engine.pool.slots.values() if group in offers(s.paradigm)), None)

    async def handle(request: Any, route: str, work: Callable[[Any], Awaitable[tuple[str, Any]]]) -> Response:
        """Read the body, run ``work(body) -> (model, response)``, map errors, record metrics."""
        start = time.perf_counter()
        model = "-"
        try:
            body = await read_json(request)
            name = body.get("model") if isinstance(body, dict) else None
            if isinstance(name, str) and name in engine.pool.slots:  # bounded label values
                model = name
            model, payload = await run(request, work(body))
            response = respond(payload)
        except (_ClientGone, ClientDisconnect):  # gone while queued or running, or mid-body
            metrics.observe_request(model, route, 499, time.perf_counter() - start)
            return Response(status_code=499)
        except Exception as exc:  # noqa: BLE001 - every error becomes an HTTP error body
            status, kind, code = protocol.error_status(exc)
            message = (
                str(exc) if status != 500 or isinstance(exc, TesseraError) else f"internal error: {exc!r}"
            )
            headers = (
                {"Retry-After": str(math.ceil(exc.retry_after))} if isinstance(exc, OverloadedError) else {}
            )
            if isinstance(exc, SlowClientError):
                headers["Connection"] = "close"  # the rest of the body is never read
            response = respond(_error_body(request.url.path, message, kind, code), status, headers)
        metrics.observe_request(model, route, response.status_code, time.perf_counter() - start)
        return response

    # ------------------------------------------------------------------ OpenAI

    @app.post("/v1/embeddings")
    async def openai_embeddings(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            req = protocol.parse_embeddings_request(body)
            if req.series is not None:
                result = await engine.embed_series(req.model, req.series, freq=req.freq)
            elif req.items is not None:
                result = await engine.embed_items(req.model, req.items, dimension=req.dimensions)
            else:
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

    def tei_model(body: Any, group: str) -> str:
        name = protocol.field(body, "model", str, default_model(group))
        if name is None:
            raise ModelNotFoundError(f"no model served here offers {group!r}: see GET /v1/models")
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
            model = tei_model(body, "embed")
            texts, _ = tei_texts(body)
            # TEI: normalize=false returns the pooled vector as it is, before the model's Normalize
            normalize = protocol.field(body, "normalize", bool, True)
            result = await engine.embed(
                model,
                texts,
                dimension=protocol.field(body, "dimensions", int),
                normalize=normalize,
                raw_pooled=not normalize,
                prompt_name=protocol.field(body, "prompt_name", str),
                truncate=protocol.field(body, "truncate", bool, False),
            )
            return model, result.data.tolist()

        return await handle(request, "/embed", work)

    @app.post("/embed_sparse")
    async def tei_embed_sparse(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, "embed_sparse")
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
            model = tei_model(body, "embed_all")
            texts, _ = tei_texts(body)
            result = await engine.embed_multi_vector(
                model,
                texts,
                is_query=protocol.field(body, "is_query", bool, False),
                truncate=protocol.field(body, "truncate", bool, False),
            )
            return model, [m.tolist() for m in result.data]

        return await handle(request, "/embed_all", work)

    @app.post("/similarity")
    async def tei_similarity(request: fastapi.Request) -> Response:
        """TEI's sentence similarity: cosine of ``source_sentence`` with each of ``sentences``."""

        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, "similarity")
            inputs = protocol.field(body, "inputs", dict, required=True)
            source = protocol.field(inputs, "source_sentence", str, required=True)
            sentences, tokens, _ = protocol.parse_inputs(
                protocol.field(inputs, "sentences", list, required=True), "inputs.sentences"
            )
            if tokens or not source:
                raise InvalidInputError("'source_sentence' and 'sentences' must be non-empty strings")
            a, b = await asyncio.gather(engine.embed(model, [source]), engine.embed(model, sentences))
            x, y = a.data, b.data
            scores = (y @ x[0]) / (np.linalg.norm(y, axis=1) * np.linalg.norm(x[0]) + 1e-12)
            return model, [float(v) for v in scores]

        return await handle(request, "/similarity", work)

    @app.post("/rerank")
    async def tei_rerank(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, "rerank")
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

    add_v1_rerank_route(app, engine, handle, tei_model)

    # ------------------------------------------------------------------ time series

    @app.post("/forecast")
    async def forecast(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, "forecast")
            series = protocol.field(body, "series", list, required=True)
            result = await engine.forecast(
                model,
                series,
                horizon=protocol.field(body, "horizon", int),
                freq=protocol.field(body, "freq", str),
            )
            return model, {"model": model, "forecasts": [f.tolist() for f in result.data]}

        return await handle(request, "/forecast", work)

    # ------------------------------------------------------------------ pages (ColPali family)

    def page_images(body: Any) -> list[bytes]:
        images = protocol.field(body, "images", list, required=True)
        if not images:
            raise InvalidInputError("'images' is an empty list: send at least one page image")
        return [decode_image_ref(v, f"images[{i}]") for i, v in enumerate(images)]

    def vectors_list(model: str, rows: list[Any], fmt: str, tokens: int) -> dict[str, Any]:
        data = [
            {"object": "embedding", "index": i, "embedding": protocol.multi_vector_json(m, fmt)}
            for i, m in enumerate(rows)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": model, "usage": usage}

    def encoding(body: Any) -> str:
        fmt = protocol.field(body, "encoding_format", str, "float")
        if fmt not in ("float", "base64"):
            raise InvalidInputError(
                f"'encoding_format' must be 'float' or 'base64', got {protocol.clip(fmt)}"
            )
        return fmt

    @app.post("/pages/embed")
    async def pages_embed(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, "pages")
            result = await engine.embed_pages(model, page_images(body))
            return model, vectors_list(model, result.data, encoding(body), 0)

        return await handle(request, "/pages/embed", work)

    @app.post("/pages/queries")
    async def pages_queries(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, "pages")
            if not isinstance(body, dict) or "input" not in body:
                raise InvalidInputError("'input' is required: a query string or a list of them")
            texts, tokens, _ = protocol.parse_inputs(body["input"])
            if tokens:
                raise InvalidInputError("'input' must be strings on this route")
            result = await engine.embed_page_queries(model, texts)
            return model, vectors_list(model, result.data, encoding(body), result.total_tokens)

        return await handle(request, "/pages/queries", work)

    @app.post("/pages/search")
    async def pages_search(request: fastapi.Request) -> Response:
        async def work(body: Any) -> tuple[str, Any]:
            model = tei_model(body, "page_search")
            query = protocol.field(body, "query", (str, list), required=True)
            queries, tokens, single = protocol.parse_inputs(query, "query")
            if tokens:
                raise InvalidInputError("'query' must be strings")
            result = await engine.page_search(
                model, queries, page_images(body), k=protocol.field(body, "k", int)
            )
            results = [[{"index": i, "score": s} for i, s in hits] for hits in result.data]
            return model, {"model": model, "results": results[0] if single else results}

        return await handle(request, "/pages/search", work)

    # ------------------------------------------------------------------ operations

    @app.get("/health")
    async def health() -> Response:
        models = []
        for m in engine.list_models():
            row = {"name": m["name"], "paradigm": m["paradigm"], "loaded": m["loaded"]}
            if m["error"]:
                row["error"] = m["error"]
            models.append(row)
        degraded = any("error" in m for m in models)
        return respond({"status": "degraded" if degraded else "ok", "models": models})

    @app.exception_handler(HTTPException)
    async def http_error(request: Any, exc: Any) -> Response:
        """Unknown routes (404) and wrong methods (405) in the same envelope as every other error."""
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        message = (
            f"no route {protocol.clip(request.url.path)} for {request.method}: see the routes in docs/serving.md"
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        body = _error_body(request.url.path, message, "invalid_request_error", code)
        return respond(body, exc.status_code, dict(exc.headers or {}))

    @app.get("/metrics")
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.add_middleware(
        _Admit, admission=engine.admission, body_timeout_s=body_timeout_s
    )  # inner: after the key and size checks
    app.add_middleware(_AuthAndSize, api_key=api_key, max_body=max_body_bytes)
    return app
