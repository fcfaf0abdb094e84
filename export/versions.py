"""Library versions recorded in every manifest (``Manifest.versions``)."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["collect_versions", "EXPORT_PACKAGES"]

EXPORT_PACKAGES = (
    "torch",
    "transformers",
    "optimum",
    "optimum-onnx",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "tokenizers",
    "safetensors",
    "sentence-transformers",
    "granite-tsfm",
    "numpy",
)


def collect_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of python, tessera-onnx and the export stack that is installed (missing ones skipped)."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in ("tessera-onnx", *EXPORT_PACKAGES, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
