"""Deprecated: ``tessera_onnx.embedders.base`` moved to ``tessera_onnx.text.base``; this alias goes in the next release."""

import warnings

from tessera_onnx.text.base import TextEmbedder  # noqa: F401

warnings.warn(
    "tessera_onnx.embedders.base is deprecated; import from tessera_onnx.text.base (or tessera_onnx) instead",
    DeprecationWarning,
    stacklevel=2,
)
from tessera_onnx.model import _Verifier  # noqa: E402,F401
from tessera_onnx.model import check_positive_int as _cpi  # noqa: E402
from tessera_onnx.model import jsonable as _jsonable  # noqa: E402,F401
from tessera_onnx.model import open_artifact as _open_artifact  # noqa: E402,F401


def _check_batch_size(batch_size: object) -> int:
    """Deprecated alias of ``check_positive_int(batch_size, "batch_size")``."""
    return _cpi(batch_size, "batch_size")


__all__ = ["TextEmbedder"]
