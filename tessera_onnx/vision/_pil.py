"""Pillow behind the ``[vision]`` extra: one place imports it and says what to install."""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError

__all__ = ["require_pil", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'tessera-onnx[vision]'"


def require_pil() -> Any:
    """Return the ``PIL.Image`` module, or raise :class:`MissingDependencyError` naming the extra."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
        raise MissingDependencyError(
            f"image support needs Pillow, which is not installed: {INSTALL_HINT}"
        ) from exc
    return Image
