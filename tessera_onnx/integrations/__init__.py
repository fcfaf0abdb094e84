"""Adapters to vector stores and frameworks, each behind its own extra.

- :mod:`.qdrant` (``pip install "tessera-onnx[qdrant]"``): a Qdrant collection with named dense,
  multi-vector (MaxSim) and sparse vectors.
- :mod:`.langchain` (``[langchain]``): ``TesseraEmbeddings``, a LangChain ``Embeddings``.
- :mod:`.llamaindex` (``[llamaindex]``): ``TesseraEmbedding``, a LlamaIndex ``BaseEmbedding``.

Importing this package imports none of those libraries; using an adapter without its library
raises :class:`~tessera_onnx.errors.MissingDependencyError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingDependencyError` telling how to install ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f'{feature} needs the {module.split(".")[0]!r} package: pip install "tessera-onnx[{extra}]"'
        ) from exc
