"""Serving: an embedding engine with dynamic batching, an HTTP server, a serverless handler.

- :class:`Engine` / :class:`SyncEngine` (library, no HTTP, no extra dependencies);
- :func:`create_app` (FastAPI; ``pip install 'tessera-onnx[serve]'``) and :func:`serve`, which
  ``tessera serve`` runs under uvicorn;
- :mod:`tessera_onnx.serving.lambda_handler`: ``handler(event, context)`` for function platforms.
"""

from __future__ import annotations

from typing import Any

from .engine import EmbedResult, Engine, EngineLimits, SyncEngine
from .pool import ModelConfig

__all__ = ["Engine", "SyncEngine", "EngineLimits", "EmbedResult", "ModelConfig", "create_app", "serve"]


def create_app(engine: Engine, **kwargs: Any) -> Any:
    """The FastAPI app serving ``engine`` (see :func:`tessera_onnx.serving.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(engine, **kwargs)


def serve(settings: Any, *, log_level: str = "info") -> None:
    """Run the HTTP server for :class:`~tessera_onnx.serving.config.ServerSettings` (blocks)."""
    from .server import run_server

    run_server(settings, log_level=log_level)
