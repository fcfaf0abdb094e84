"""tessera-onnx: embedding models on onnxruntime + tokenizers + numpy, without PyTorch."""

from __future__ import annotations

from .errors import *  # noqa: F403
from .errors import __all__ as _errors_all
from .registry import ModelSpec, get_model, list_models

__version__ = "0.1.0"

__all__ = ["__version__", "ModelSpec", "get_model", "list_models", *_errors_all]
