"""Cross-encoder rerankers (paradigm ``cross_encoder``): :class:`TesseraCrossEncoder`.

``TesseraCrossEncoder`` is imported on first use, so importing this package does not load
onnxruntime.
"""

from __future__ import annotations

from typing import Any

from .config import ACTIVATIONS, CrossEncoderConfig

__all__ = ["ACTIVATIONS", "CrossEncoderConfig", "TesseraCrossEncoder"]


def __getattr__(name: str) -> Any:
    if name == "TesseraCrossEncoder":
        from .model import TesseraCrossEncoder

        return TesseraCrossEncoder
    raise AttributeError(f"module 'tessera_onnx.cross_encoder' has no attribute {name!r}")
