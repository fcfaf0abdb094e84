"""Model weight precision of an artifact: fp32 (as exported), fp16, int8.

- **fp16**: onnxruntime's float16 converter with ``keep_io_types=True``: inputs and outputs stay
  float32, weights and activations inside become float16 (halves the file; meant for GPUs —
  onnxruntime's CPU provider runs most fp16 ops slower than fp32).
- **int8**: ``onnxruntime.quantization.quantize_dynamic`` with the settings in :data:`INT8_SETTINGS`,
  chosen by measurement on all-MiniLM-L6-v2 (see ``benchmarks/int8_settings.py`` and the README):
  weights int8 per output channel, activations quantised on the fly, FFN output projections kept fp32.

Floors (:data:`FLOORS`): an artifact whose parity against the fp32 torch model misses the floor
of its precision is not written. fp32 compares the raw graph output (max abs diff); reduced
precisions compare the vectors the runtime returns (pooled sentence vectors, kept ColBERT token
vectors, SPLADE vocabulary vectors) by cosine.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from tessera_onnx.errors import ExportError

__all__ = ["FLOORS", "INT8_SETTINGS", "convert_precision", "convert_fp16", "quantize_int8"]

FLOORS: dict[str, dict[str, float]] = {
    "fp32": {"max_abs_diff": 1e-4},
    "fp16": {"min_cosine": 0.999},
    "int8": {"min_cosine": 0.98},
}

# Chosen by benchmarks/int8_settings.py on all-MiniLM-L6-v2 (README "Precision" has the table).
INT8_SETTINGS: dict[str, Any] = {
    "method": "dynamic",
    "weight_type": "QInt8",
    "per_channel": True,
    "reduce_range": False,
    # applied to the optimised graph: fused Attention (QKV) becomes QAttention, dense MatMuls MatMulInteger
    "op_types_to_quantize": ["MatMul", "Attention"],
    # the FFN output projection (input: post-GELU activations with outliers) stays fp32: it carries most
    # of the int8 error (MiniLM mean cos 0.9937 -> 0.9956, min 0.9870 -> 0.9895)
    "exclude_patterns": [r"layer\.\d+/output/dense/MatMul", r"layers\.\d+/mlp/Wo/"],
    "extra_options": {"MatMulConstBOnly": True},
}

def convert_fp16(src: str | Path, dst: str | Path) -> dict[str, Any]:
    """float16 weights/activations with float32 inputs/outputs (``keep_io_types=True``)."""
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(src)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(dst), use_external_data_format=False)
    return {"method": "onnxruntime.transformers float16 conversion", "keep_io_types": True}


def _last_layer_nodes(model_path: str | Path, n_layers: int) -> list[str]:
    """Names of MatMul/Attention nodes that belong to the last ``n_layers`` encoder layers (and after)."""
    import re

    import onnx

    if n_layers <= 0:
        return []
    model = onnx.load(str(model_path), load_external_data=False)
    layer_of: dict[str, int] = {}
    for node in model.graph.node:
        m = re.search(r"layers?[./_](\d+)[./_]", node.name + "/" + "/".join(node.output))
        if m:
            layer_of[node.name] = int(m.group(1))
    if not layer_of:
        return []
    last = max(layer_of.values())
    return [n for n, layer in layer_of.items() if layer > last - n_layers]


def _matmul_nbits(src: str | Path, dst: str | Path, cfg: dict[str, Any]) -> dict[str, Any]:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quant = MatMulNBitsQuantizer(onnx.load(str(src)), bits=8, block_size=int(cfg.get("block_size", 32)),
                                 is_symmetric=True, accuracy_level=cfg.get("accuracy_level"))
    quant.process()
    quant.model.save_model_to_file(str(dst), use_external_data_format=False)
    return {"method": "onnxruntime.quantization MatMulNBitsQuantizer (8-bit, weight-only)", **cfg}


def quantize_int8(src: str | Path, dst: str | Path, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """int8 quantisation of ``src`` into ``dst`` (dynamic, or 8-bit MatMulNBits); returns the settings used."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    cfg = dict(INT8_SETTINGS if settings is None else settings)
    if cfg.get("method") == "matmul_nbits":
        return _matmul_nbits(src, dst, cfg)
    exclude = list(cfg.get("nodes_to_exclude", [])) + _last_layer_nodes(src, int(cfg.get("exclude_last_layers", 0)))
    if cfg.get("exclude_patterns"):
        import re

        model = onnx.load(str(src), load_external_data=False)
        exclude += [n.name for n in model.graph.node if n.op_type in ("MatMul", "Attention")
                    and any(re.search(p, n.name) for p in cfg["exclude_patterns"])]
    import logging

    root = logging.getLogger()
    level = root.level  # quantize_dynamic logs on the root logger: quiet it for this call only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(
                str(src), str(dst),
                weight_type=getattr(QuantType, cfg.get("weight_type", "QInt8")),
                per_channel=bool(cfg.get("per_channel", True)),
                reduce_range=bool(cfg.get("reduce_range", False)),
                op_types_to_quantize=cfg.get("op_types_to_quantize"),
                nodes_to_exclude=exclude or None,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, **dict(cfg.get("extra_options", {}))},
            )
        finally:
            root.setLevel(level)
    return {"method": "onnxruntime.quantization.quantize_dynamic", **cfg, "excluded_nodes": len(exclude)}


def convert_precision(src: str | Path, dst: str | Path, precision: str) -> dict[str, Any]:
    """Write ``src`` at ``precision`` into ``dst`` and describe what was done."""
    if precision == "fp16":
        return convert_fp16(src, dst)
    if precision == "int8":
        return quantize_int8(src, dst)
    raise ExportError(f"unknown precision {precision!r}; choose fp32, fp16 or int8")
