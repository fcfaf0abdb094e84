"""Deprecated: ``tessera_onnx.embedders.image_text`` moved to ``tessera_onnx.vision.embedder``; this alias goes in the next release."""

import warnings

from tessera_onnx.vision.embedder import TesseraImageText, cosine_top_k  # noqa: F401

warnings.warn(
    "tessera_onnx.embedders.image_text is deprecated; import from tessera_onnx.vision.embedder (or tessera_onnx) instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["TesseraImageText", "cosine_top_k"]
