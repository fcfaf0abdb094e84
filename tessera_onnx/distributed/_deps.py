"""Import Ray and pyarrow on first use, or say which extra to install."""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError

__all__ = ["require_pyarrow", "require_ray", "EXTRA_HINT"]

EXTRA_HINT = 'pip install "tessera-onnx[ray]"  (installs ray[data] and pyarrow)'


def require_pyarrow() -> Any:
    """The ``pyarrow`` module (with ``pyarrow.parquet`` loaded), or :class:`MissingDependencyError` naming the ``[ray]`` extra."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401  (pyarrow.parquet is a submodule, loaded on demand)
    except ImportError:
        raise MissingDependencyError(f"embedding datasets needs pyarrow: {EXTRA_HINT}") from None
    return pyarrow


def require_ray() -> Any:
    """The ``ray`` module with Ray Data loaded, or :class:`MissingDependencyError` naming the extra."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError(f"running on Ray needs ray[data]: {EXTRA_HINT}") from None
    return ray
