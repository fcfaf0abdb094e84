"""Deprecated: ``tessera_onnx.embedders.factory`` moved to ``tessera_onnx.factory``; this alias goes in the next release."""

import warnings

from tessera_onnx.factory import Tessera, load  # noqa: F401

warnings.warn(
    "tessera_onnx.embedders.factory is deprecated; import from tessera_onnx.factory (or tessera_onnx) instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["Tessera", "load"]
