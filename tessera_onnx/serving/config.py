"""Server settings and the ``tessera serve --config FILE`` format (JSON, or TOML on Python ≥ 3.11).

```json
{
  "host": "127.0.0.1", "port": 8000, "api_key": null,
  "memory_budget_mb": 2048, "max_body_mb": 4,
  "header_timeout_s": 10, "keep_alive_timeout_s": 15, "body_timeout_s": 10, "shutdown_timeout_s": 30,
  "limits": {"max_inputs": 2048, "max_request_tokens": 131072, "batch_tokens": 1024,
             "max_queue_tokens": 262144, "batch_window_ms": 2.0,
             "max_in_flight": 512, "max_in_flight_tokens": 1048576, "max_per_client": 128,
             "queue_timeout_s": 0},
  "models": [
    {"path": "artifacts/minilm", "name": "minilm", "keep_alive": 600, "threads": 2, "preload": true},
    {"path": "artifacts/splade", "keep_alive": 60}
  ]
}
```

Every key of a model entry other than ``path``/``name``/``keep_alive``/``preload`` is a load
option for :func:`tessera_onnx.Tessera` (``threads``, ``device``, ``max_length``, ...).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .engine import EngineLimits
from .pool import ModelConfig

__all__ = ["ServerSettings", "load_settings"]


@dataclass
class ServerSettings:
    """Everything ``tessera serve`` needs: where to listen, what to serve, which limits."""

    models: list[ModelConfig] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    memory_budget_mb: float | None = None
    max_body_mb: float = 4.0
    # a request's headers must arrive within header_timeout_s of the connection (or of the first
    # byte of that request), its body within body_timeout_s of its headers (408 otherwise); a
    # connection idle between requests is closed after keep_alive_timeout_s (longer than clients'
    # usual idle expiry, so that they never reuse a connection the server is closing); on SIGTERM
    # admitted requests get up to shutdown_timeout_s to finish while new ones get 503
    header_timeout_s: float = 10.0
    keep_alive_timeout_s: float = 15.0
    body_timeout_s: float = 10.0
    shutdown_timeout_s: float = 30.0
    limits: EngineLimits = field(default_factory=EngineLimits)

    @property
    def max_body_bytes(self) -> int:
        """The request-body limit in bytes."""
        return int(self.max_body_mb * 2**20)


def load_settings(path: str | os.PathLike[str]) -> ServerSettings:
    """Read a config file (``.json`` or ``.toml``) into :class:`ServerSettings`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read config file {p}: {exc}") from exc
    try:
        if p.suffix.lower() == ".toml":
            import tomllib  # Python >= 3.11

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ImportError as exc:
        raise InvalidInputError("TOML config files need Python 3.11+; use a .json file") from exc
    except ValueError as exc:
        raise InvalidInputError(f"config file {p} is not valid: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"config file {p} must hold an object at the top level")
    data = dict(data)
    models = [ModelConfig.from_dict(m) for m in data.pop("models", [])]
    limit_names = {f.name for f in fields(EngineLimits)}
    raw_limits = data.pop("limits", {}) or {}
    unknown = set(raw_limits) - limit_names
    if unknown:
        raise InvalidInputError(f"unknown limits {sorted(unknown)} in {p}; known: {sorted(limit_names)}")
    known = {f.name for f in fields(ServerSettings)} - {"models", "limits"}
    unknown = set(data) - known
    if unknown:
        raise InvalidInputError(f"unknown settings {sorted(unknown)} in {p}; known: {sorted(known)}")
    settings = ServerSettings(models=models, **data)
    return replace(settings, limits=replace(settings.limits, **raw_limits))


def with_overrides(settings: ServerSettings, **overrides: Any) -> ServerSettings:
    """``settings`` with the given non-None fields (and ``limits`` fields) replaced."""
    limit_names = {f.name for f in fields(EngineLimits)}
    top = {k: v for k, v in overrides.items() if v is not None and k not in limit_names}
    lim = {k: v for k, v in overrides.items() if v is not None and k in limit_names}
    out = replace(settings, **top)
    return replace(out, limits=replace(out.limits, **lim)) if lim else out
