"""tessera-export: convert registry models into self-describing tessera ONNX artifacts.

Needs the ``[export]`` extra (torch, transformers, optimum, onnx). Python API::

    from tessera_export import build_artifact, verify_artifact
    manifest = build_artifact("path/to/checkpoint", "artifacts/my-model", model_id="all-minilm-l6-v2")
    verify_artifact("artifacts/my-model")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tessera_onnx._version import __version__

__all__ = ["__version__", "build_artifact", "verify_artifact"]

if TYPE_CHECKING:  # pragma: no cover
    from .build import build_artifact
    from .verify import verify_artifact


def __getattr__(name: str) -> Any:
    # lazy: `import tessera_export` stays cheap; torch is only imported by a build
    if name == "build_artifact":
        from .build import build_artifact

        return build_artifact
    if name == "verify_artifact":
        from .verify import verify_artifact

        return verify_artifact
    raise AttributeError(f"module 'tessera_export' has no attribute {name!r}")
