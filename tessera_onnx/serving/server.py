"""Run the app under uvicorn: header timeout, graceful drain on SIGTERM.

:func:`make_server` builds the :class:`GracefulServer` that ``tessera serve`` runs (tests run the
same object on a loopback port):

- **header timeout**: a connection that has not sent a complete request line and headers within
  ``header_timeout_s`` of connecting (or of the first byte of its next request) is closed, so idle
  or trickling connections cannot pile up (slowloris). The body has its own deadline, enforced in
  the app (``body_timeout_s``, HTTP 408).
- **keep-alive**: a connection idle between requests is closed after ``keep_alive_timeout_s``
  (uvicorn's keep-alive timer; the header timeout does not apply while idle). The default (15 s)
  is longer than common clients' idle expiry (httpx 5 s), so a client never reuses a connection the
  server is closing at that moment; clients should expire idle connections sooner than this.
- **graceful shutdown**: the first SIGTERM/SIGINT starts a drain: the listening socket stays open
  and every new request gets 503 (``Connection: close``) while the requests already admitted
  finish; once none is left, or ``shutdown_timeout_s`` has passed, uvicorn shuts down. A second
  signal exits at once.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import MissingDependencyError
from .app import create_app
from .config import ServerSettings
from .engine import Engine

__all__ = ["build_app", "make_server", "run_server", "GracefulServer"]


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError(
            "the HTTP server needs uvicorn: pip install 'tessera-onnx[serve]'"
        ) from exc
    return uvicorn


def build_app(settings: ServerSettings) -> Any:
    """The engine and the FastAPI app of ``settings`` (the app starts and closes the engine)."""
    engine = Engine(settings.models, memory_budget_mb=settings.memory_budget_mb, limits=settings.limits)
    return create_app(
        engine,
        api_key=settings.api_key,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
    )


def header_timeout_protocol(timeout_s: float) -> type:
    """uvicorn's HTTP protocol class (httptools when installed, else h11) closing connections that
    have not completed their request headers within ``timeout_s`` seconds."""
    try:
        import httptools  # noqa: F401
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol as base

    class HeaderTimeoutProtocol(base):  # type: ignore[misc, valid-type]
        _header_timer: Any = None
        _header_cycle: Any = None

        def _arm_header_timer(self) -> None:
            self._header_cycle = self.cycle  # a new request replaces the cycle once its headers are in
            self._header_timer = self.loop.call_later(timeout_s, self._header_deadline)

        def _header_deadline(self) -> None:
            self._header_timer = None
            if self.cycle is self._header_cycle and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            # the first bytes of a request (none in progress) start its deadline; a timer still
            # pending from an earlier request (armed for another cycle) cannot close this one, so
            # it is replaced
            if (self.cycle is None or self.cycle.response_complete) and (
                self._header_timer is None or self._header_cycle is not self.cycle
            ):
                if self._header_timer is not None:
                    self._header_timer.cancel()
                self._arm_header_timer()
            super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def _server_class() -> type:
    uvicorn = _uvicorn()

    class _Graceful(uvicorn.Server):  # type: ignore[misc, name-defined]
        """uvicorn's server with a drain phase before shutdown (see the module docstring)."""

        def __init__(self, config: Any, admission: Any, shutdown_timeout_s: float) -> None:
            super().__init__(config)
            self.admission = admission
            self.shutdown_timeout_s = float(shutdown_timeout_s)
            self.drain_deadline: float | None = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.drain_deadline is None and not self.should_exit:
                self.drain_deadline = time.monotonic() + self.shutdown_timeout_s
                self.admission.draining = True
                return
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            if self.drain_deadline is not None and not self.should_exit:
                if self.admission.in_flight == 0 or time.monotonic() > self.drain_deadline:
                    self.should_exit = True
            return await super().on_tick(counter)

    return _Graceful


GracefulServer: Any = None  # the class, built on first use (uvicorn is an optional dependency)


def make_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    header_timeout_s: float = 10.0,
    keep_alive_timeout_s: float = 15.0,
    shutdown_timeout_s: float = 30.0,
    log_level: str = "info",
) -> Any:
    """The uvicorn server for ``app`` (made by :func:`create_app`) with the protections above."""
    global GracefulServer
    uvicorn = _uvicorn()
    if GracefulServer is None:
        GracefulServer = _server_class()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=header_timeout_protocol(header_timeout_s),
        timeout_keep_alive=keep_alive_timeout_s,
        timeout_graceful_shutdown=5,
    )
    return GracefulServer(config, app.state.engine.admission, shutdown_timeout_s)


def run_server(settings: ServerSettings, *, log_level: str = "info") -> None:
    """Serve ``settings`` with uvicorn on ``settings.host:settings.port`` until signalled."""
    import warnings

    from ..errors import TruncationWarning

    # A server truncates on purpose (the request said so); one warning per batch would flood the log.
    warnings.filterwarnings("ignore", category=TruncationWarning)
    server = make_server(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        header_timeout_s=settings.header_timeout_s,
        keep_alive_timeout_s=settings.keep_alive_timeout_s,
        shutdown_timeout_s=settings.shutdown_timeout_s,
        log_level=log_level,
    )
    server.run()
