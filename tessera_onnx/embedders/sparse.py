"""Deprecated: ``tessera_onnx.embedders.sparse`` moved to ``tessera_onnx.text.sparse``; this alias goes in the next release."""

import warnings

from tessera_onnx.text.sparse import TesseraSparse  # noqa: F401

warnings.warn(
    "tessera_onnx.embedders.sparse is deprecated; import from tessera_onnx.text.sparse (or tessera_onnx) instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["TesseraSparse"]
