"""Deprecated: ``tessera_onnx.embedders.multi_vector`` moved to ``tessera_onnx.text.multi_vector``; this alias goes in the next release."""

import warnings

from tessera_onnx.text.multi_vector import MultiVectorBatch, TesseraMultiVector  # noqa: F401

warnings.warn(
    "tessera_onnx.embedders.multi_vector is deprecated; import from tessera_onnx.text.multi_vector (or tessera_onnx) instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["TesseraMultiVector", "MultiVectorBatch"]
