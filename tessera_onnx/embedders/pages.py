"""Deprecated: ``tessera_onnx.embedders.pages`` moved to ``tessera_onnx.pages.embedder``; this alias goes in the next release."""

import warnings

from tessera_onnx.pages.embedder import TesseraPages  # noqa: F401

warnings.warn(
    "tessera_onnx.embedders.pages is deprecated; import from tessera_onnx.pages.embedder (or tessera_onnx) instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["TesseraPages"]
