"""tessera-onnx: embedding models on onnxruntime + tokenizers + numpy, without PyTorch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import *  # noqa: F403
from .errors import __all__ as _errors_all
from .registry import ModelSpec, get_model, list_models

# Public names imported on first use (module __getattr__), so `import tessera_onnx` stays
# fast and never loads onnxruntime.
_LAZY = {
    "Tessera": "tessera_onnx.factory",
    "load": "tessera_onnx.factory",
    "TesseraDense": "tessera_onnx.text.dense",
    "TesseraMultiVector": "tessera_onnx.text.multi_vector",
    "MultiVectorBatch": "tessera_onnx.text.multi_vector",
    "TesseraSparse": "tessera_onnx.text.sparse",
    "SparseEmbedding": "tessera_onnx.sparse_embedding",
    "TesseraTimeSeries": "tessera_onnx.timeseries",
    "DenseIndex": "tessera_onnx.index",
    "MultiVectorIndex": "tessera_onnx.index",
    "SparseIndex": "tessera_onnx.index",
    "Retriever": "tessera_onnx.index",
    "load_index": "tessera_onnx.index",
    "TesseraImageText": "tessera_onnx.vision.embedder",
    "HyperbolicEmbedder": "tessera_onnx.hyperbolic.embedder",
    "TesseraPages": "tessera_onnx.pages.embedder",
    "PageIndex": "tessera_onnx.pages.search",
    "TesseraCrossEncoder": "tessera_onnx.cross_encoder.model",
}

__all__ = [
    "__version__",
    "ModelSpec",
    "get_model",
    "list_models",
    "Tessera",
    "load",
    "TesseraDense",
    "TesseraMultiVector",
    "MultiVectorBatch",
    "TesseraSparse",
    "SparseEmbedding",
    "TesseraTimeSeries",
    "DenseIndex",
    "MultiVectorIndex",
    "SparseIndex",
    "Retriever",
    "load_index",
    "TesseraImageText",
    "HyperbolicEmbedder",
    "TesseraPages",
    "PageIndex",
    "TesseraCrossEncoder",
    *_errors_all,
]

if TYPE_CHECKING:  # pragma: no cover
    from .cross_encoder.model import TesseraCrossEncoder
    from .factory import Tessera, load
    from .hyperbolic.embedder import HyperbolicEmbedder
    from .index import DenseIndex, MultiVectorIndex, Retriever, SparseIndex, load_index
    from .pages.embedder import TesseraPages
    from .pages.search import PageIndex
    from .sparse_embedding import SparseEmbedding
    from .text.dense import TesseraDense
    from .text.multi_vector import MultiVectorBatch, TesseraMultiVector
    from .text.sparse import TesseraSparse
    from .timeseries import TesseraTimeSeries
    from .vision.embedder import TesseraImageText


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tessera_onnx' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
