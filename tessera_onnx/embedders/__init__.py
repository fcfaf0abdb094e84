"""Deprecated: the classes of ``tessera_onnx.embedders`` moved into the paradigm packages.

``tessera_onnx.text`` (dense, multi-vector, sparse), ``tessera_onnx.vision.embedder``,
``tessera_onnx.pages.embedder`` and ``tessera_onnx.factory``; each old module still imports, with
a DeprecationWarning, until the next release.
"""

from typing import Any

__all__ = ["Tessera", "load"]


def __getattr__(name: str) -> Any:
    if name in ("Tessera", "load", "PARADIGM_CLASSES"):
        import warnings

        from tessera_onnx import factory

        warnings.warn(
            f"tessera_onnx.embedders.{name} is deprecated; use tessera_onnx.{name} "
            "(the paradigm table is tessera_onnx.paradigms.PARADIGMS)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(factory, name)
    raise AttributeError(f"module 'tessera_onnx.embedders' has no attribute {name!r}")
