"""Run the app under uvicorn for a :class:`~tessera_onnx.serving.config.ServerSettings`."""

from __future__ import annotations

from ..errors import MissingDependencyError
from .app import create_app
from .config import ServerSettings
from .engine import Engine

__all__ = ["build_app", "run_server"]


def build_app(settings: ServerSettings) -> object:
    """The engine and the FastAPI app of ``settings`` (the app starts and closes the engine)."""
    engine = Engine(settings.models, memory_budget_mb=settings.memory_budget_mb, limits=settings.limits)
    return create_app(engine, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes)


def run_server(settings: ServerSettings, *, log_level: str = "info") -> None:
    """Serve ``settings`` with uvicorn on ``settings.host:settings.port`` until interrupted."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError(
            "the HTTP server needs uvicorn: pip install 'tessera-onnx[serve]'"
        ) from exc
    import warnings

    from ..errors import TruncationWarning

    # A server truncates on purpose (the request said so); one warning per batch would flood the log.
    warnings.filterwarnings("ignore", category=TruncationWarning)
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
