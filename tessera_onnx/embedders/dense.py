"""Deprecated: ``tessera_onnx.embedders.dense`` moved to ``tessera_onnx.text.dense``; this alias goes in the next release."""

import warnings

from tessera_onnx.text.dense import TesseraDense  # noqa: F401

warnings.warn(
    "tessera_onnx.embedders.dense is deprecated; import from tessera_onnx.text.dense (or tessera_onnx) instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["TesseraDense"]
