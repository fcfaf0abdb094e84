"""The OpenVINO backend: an artifact's canonical ONNX graphs compiled by OpenVINO's CPU plugin.

``Tessera(path, backend="openvino")`` (extra ``[openvino]``) runs the same portable graphs as
onnxruntime. Inference precision is pinned to f32: on CPUs with ``avx512_bf16`` the CPU plugin
otherwise computes in bf16 and the vectors move by ~1e-3. OpenVINO runs only canonical graphs
(never an onnxruntime variant); an artifact from before portable graphs existed, whose graph uses
onnxruntime's ``com.microsoft`` operators, raises :class:`~tessera_onnx.errors.UnsupportedBackendError`.

The returned object has the part of ``onnxruntime.InferenceSession`` the embedders use:
``run(output_names, feed)``, ``get_inputs()``, ``get_outputs()``; ``run`` is thread-safe (one
infer request per calling thread).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._warnings import warn
from ..errors import (
    InvalidInputError,
    MissingDependencyError,
    ProviderUnavailableError,
    ProviderWarning,
    UnsupportedBackendError,
)

__all__ = ["OPENVINO_PROVIDER", "GraphArg", "OpenVINOSession", "open_openvino"]

OPENVINO_PROVIDER = "openvino:CPU"
_ORT_TYPES = {
    "i64": "tensor(int64)",
    "i32": "tensor(int32)",
    "f32": "tensor(float)",
    "f16": "tensor(float16)",
    "u8": "tensor(uint8)",
    "i8": "tensor(int8)",
    "boolean": "tensor(bool)",
    "f64": "tensor(double)",
}


@dataclass(frozen=True)
class GraphArg:
    """A graph input or output as onnxruntime's ``NodeArg`` describes it: name, type string, shape."""

    name: str
    type: str
    shape: list[Any]


def _ov() -> Any:
    try:
        import openvino
    except ImportError:
        raise MissingDependencyError(
            "backend='openvino' needs OpenVINO: pip install 'tessera-onnx[openvino]'"
        ) from None
    return openvino


def _arg(port: Any) -> GraphArg:
    shape = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
    return GraphArg(
        port.get_any_name(),
        _ORT_TYPES.get(port.get_element_type().get_type_name(), "tensor(float)"),
        shape,
    )


class OpenVINOSession:
    """An OpenVINO-compiled graph behind onnxruntime's session surface (see the module docs)."""

    def __init__(self, model: Any, compiled: Any) -> None:
        # names from the model as read: compilation may merge tensors (an output Cast's input and
        # output), leaving the ONNX name one of several
        self._compiled = compiled
        self._inputs = [_arg(p) for p in model.inputs]
        self._outputs = [_arg(p) for p in model.outputs]
        self._input_names = {a.name for a in self._inputs}
        self._local = threading.local()

    def get_inputs(self) -> list[GraphArg]:
        """The graph inputs (name, ``tensor(...)`` type, shape with ``None`` for dynamic axes)."""
        return list(self._inputs)

    def get_outputs(self) -> list[GraphArg]:
        """The graph outputs."""
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        """``["openvino:CPU"]`` (onnxruntime's method of the same name lists execution providers)."""
        return [OPENVINO_PROVIDER]

    def run(
        self, output_names: Sequence[str] | None, feed: Mapping[str, np.ndarray], *_: Any
    ) -> list[np.ndarray]:
        """Run the graph on ``feed`` and return the named outputs (all when ``None``), as numpy arrays."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        inputs = {
            name: np.ascontiguousarray(value) for name, value in feed.items() if name in self._input_names
        }
        request.infer(inputs)
        names = list(output_names) if output_names else [a.name for a in self._outputs]
        return [np.array(request.get_tensor(name).data, copy=True) for name in names]


def open_openvino(
    path: str | Path,
    *,
    device: str | None,
    threads: int | None,
    providers: list[Any] | None,
    fallback: bool,
) -> tuple[OpenVINOSession, str]:
    """Compile the ONNX graph at ``path`` for OpenVINO's CPU plugin (f32); return ``(session, provider)``."""
    ov = _ov()
    if providers is not None:
        raise InvalidInputError(
            "providers is an onnxruntime option; with backend='openvino' choose device='cpu' (or 'auto')"
        )
    text = (device or "auto").strip().lower()
    if text not in ("auto", "cpu"):
        message = f"backend='openvino' runs on the CPU only, not device {device!r}"
        if not fallback:
            raise ProviderUnavailableError(message)
        warn(message + "; running on CPU instead", ProviderWarning)
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 0):
        raise InvalidInputError(f"threads must be a non-negative integer (0 = default), got {threads!r}")
    core = ov.Core()
    try:
        model = core.read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError / its own types for unknown operators
        text = str(exc)
        found = re.search(r"No conversion rule found for operations: ([^\n]+)", text)
        reason = f"it has no conversion for {found.group(1).strip()}" if found else text.strip()[:300]
        raise UnsupportedBackendError(
            f"OpenVINO cannot read {Path(path).name}: {reason}. This graph uses onnxruntime-only "
            "operators (an artifact exported before portable graphs, e.g. an int8 QAttention graph): "
            "re-export it with a current tessera-export, or use backend='onnxruntime'"
        ) from exc
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    try:
        compiled = core.compile_model(model, "CPU", config)
    except Exception as exc:
        raise UnsupportedBackendError(
            f"OpenVINO cannot compile {Path(path).name} for its CPU plugin: {exc}; use backend='onnxruntime'"
        ) from exc
    return OpenVINOSession(model, compiled), OPENVINO_PROVIDER
