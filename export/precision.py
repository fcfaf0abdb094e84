"""Model weight precision of an artifact: fp32 (as exported), fp16, int8.

- **fp16**: onnxruntime's float16 converter with ``keep_io_types=True``: inputs and outputs stay
  float32, weights and activations inside become float16 (halves the file; meant for GPUs —
  onnxruntime's CPU provider runs most fp16 ops slower than fp32).
- **int8**: ``onnxruntime.quantization.quantize_dynamic`` with the settings of a named profile
  (:data:`INT8_PROFILES`; default ``split``), chosen by measurement on all-MiniLM-L6-v2 (see
  ``benchmarks/int8_settings.py`` and the README): weights int8 per output channel, activations
  quantised on the fly, the few outlier input channels of each FFN output projection in a thin fp32
  side branch (``outlier_split.py``).

Floors (:data:`FLOORS`): an artifact whose parity against the fp32 torch model misses the floor
of its precision is not written. fp32 compares the raw graph output (max abs diff); reduced
precisions compare the vectors the runtime returns (pooled sentence vectors, kept ColBERT token
vectors, SPLADE vocabulary vectors) by cosine.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tessera_onnx.errors import ExportError

__all__ = [
    "DEFAULT_INT8_PROFILE",
    "FLOORS",
    "INT8_PROFILES",
    "INT8_SETTINGS",
    "convert_precision",
    "convert_fp16",
    "int8_settings",
    "quantize_int8",
]

FLOORS: dict[str, dict[str, float]] = {
    "fp32": {"max_abs_diff": 1e-4},
    "fp16": {"min_cosine": 0.999},
    "int8": {"min_cosine": 0.98},
}

# Dynamic quantisation as chosen on all-MiniLM-L6-v2 (benchmarks/int8_settings.py, README "Precision").
_DYNAMIC: dict[str, Any] = {
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
# Named int8 settings: ``tessera-export --precision int8 --int8-profile NAME``.
INT8_PROFILES: dict[str, dict[str, Any]] = {
    # no calibration needed: the FFN-out projections stay fp32 (the default until "split"; the image
    # towers and page models use it)
    "dynamic": _DYNAMIC,
    # "dynamic" with its fp32 FFN-out MatMuls as 8-bit block-wise weights (int8 compute, activations
    # quantised per block of 32): same mean cosine, higher min, 15 % smaller file; as fast or faster
    # than "dynamic" in the interleaved runs on AVX-512 VNNI
    "mixed": {**_DYNAMIC, "excluded_as_nbits": {"block_size": 32, "accuracy_level": 4}},
    # the default: "dynamic" with the FFN-out projections int8 too; their few outlier input channels
    # (found on the export's parity batches) run in a thin fp32 side branch (export/outlier_split.py).
    # GELU in its tanh form (FastGelu). MiniLM, AVX-512 VNNI, 2 idle threads: 1.87x the fp32 artifact vs
    # 1.48x for "dynamic", mean/min cosine 0.9962/0.991 on 2,000 real passages (floors 0.995/0.98)
    "split": {**_DYNAMIC, "outlier_split": {"ratio": 2.0}, "approximate_gelu": True},
    # every MatMul (FFN-out too) as 8-bit block-wise weights with int8 compute on per-block quantised
    # activations: cosine ~0.9999 to fp32, but slower than "dynamic" (onnxruntime 1.32, AVX-512 VNNI)
    "blockwise": {"method": "matmul_nbits", "block_size": 32, "accuracy_level": 4},
}
DEFAULT_INT8_PROFILE = "split"
# the settings ``--precision int8`` uses without a profile (kept under this name for existing callers)
INT8_SETTINGS: dict[str, Any] = INT8_PROFILES[DEFAULT_INT8_PROFILE]


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

    quant = MatMulNBitsQuantizer(
        onnx.load(str(src)),
        bits=8,
        block_size=int(cfg.get("block_size", 32)),
        is_symmetric=True,
        accuracy_level=cfg.get("accuracy_level"),
    )
    quant.process()
    quant.model.save_model_to_file(str(dst), use_external_data_format=False)
    return {"method": "onnxruntime.quantization MatMulNBitsQuantizer (8-bit, weight-only)", **cfg}


def int8_settings(profile: str | None = None) -> dict[str, Any]:
    """The settings of the named int8 profile (``None``: :data:`DEFAULT_INT8_PROFILE`)."""
    name = profile or DEFAULT_INT8_PROFILE
    if name not in INT8_PROFILES:
        raise ExportError(f"unknown int8 profile {name!r}; choose one of {', '.join(INT8_PROFILES)}")
    return dict(INT8_PROFILES[name])


def _excluded_nodes(src: str | Path, cfg: dict[str, Any]) -> list[str]:
    import re

    import onnx

    exclude = list(cfg.get("nodes_to_exclude", [])) + _last_layer_nodes(
        src, int(cfg.get("exclude_last_layers", 0))
    )
    if cfg.get("exclude_patterns"):
        model = onnx.load(str(src), load_external_data=False)
        exclude += [
            n.name
            for n in model.graph.node
            if n.op_type in ("MatMul", "Attention")
            and any(re.search(p, n.name) for p in cfg["exclude_patterns"])
        ]
    return exclude


class _FeedsReader:
    """``CalibrationDataReader`` over ready feed dicts (only the graph's own inputs are passed)."""

    def __init__(self, feeds: Sequence[Mapping[str, Any]], names: Sequence[str]) -> None:
        self._feeds = [{k: f[k] for k in names} for f in feeds]
        self._it = iter(self._feeds)

    def get_next(self) -> dict[str, Any] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._feeds)


def _static(
    src: str | Path,
    dst: str | Path,
    cfg: dict[str, Any],
    exclude: list[str],
    calibration: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if not calibration:
        raise ExportError("static int8 quantisation needs calibration batches (feed dicts of real inputs)")
    names = [i.name for i in onnx.load(str(src), load_external_data=False).graph.input]
    reader = type("_Reader", (_FeedsReader, CalibrationDataReader), {})(calibration, names)
    quantize_static(
        str(src),
        str(dst),
        reader,
        quant_format=getattr(QuantFormat, cfg.get("quant_format", "QDQ")),
        op_types_to_quantize=cfg.get("op_types_to_quantize", ["MatMul"]),
        per_channel=bool(cfg.get("per_channel", True)),
        reduce_range=bool(cfg.get("reduce_range", False)),
        activation_type=getattr(QuantType, cfg.get("activation_type", "QUInt8")),
        weight_type=getattr(QuantType, cfg.get("weight_type", "QInt8")),
        nodes_to_exclude=exclude or None,
        calibrate_method=getattr(CalibrationMethod, cfg.get("calibrate_method", "MinMax")),
        extra_options={"MatMulConstBOnly": True, **dict(cfg.get("extra_options", {}))},
    )
    return {
        "method": "onnxruntime.quantization.quantize_static",
        **cfg,
        "excluded_nodes": len(exclude),
        "calibration_batches": len(calibration),
    }


def quantize_int8(
    src: str | Path,
    dst: str | Path,
    settings: dict[str, Any] | None = None,
    *,
    calibration: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """int8 quantisation of ``src`` into ``dst``; returns the settings used.

    ``settings["method"]``: ``"dynamic"`` (activations quantised on the fly), ``"static"`` (calibrated
    activation ranges from ``calibration``, a list of feed dicts; QDQ or QOperator format) or
    ``"matmul_nbits"`` (8-bit block-wise weights). ``settings=None``: :data:`INT8_SETTINGS`.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    cfg = dict(INT8_SETTINGS if settings is None else settings)
    if cfg.get("method") == "matmul_nbits":
        return _matmul_nbits(src, dst, cfg)
    split: dict[str, Any] | None = None
    if cfg.get("outlier_split"):
        if not calibration:
            raise ExportError(
                "the outlier split needs calibration batches (feed dicts of real inputs): pass "
                "calibration=..., or choose the int8 profile 'dynamic', which needs none"
            )
        from .outlier_split import split_outlier_channels

        staged = Path(dst).with_name(Path(dst).stem + ".split.onnx")
        split = split_outlier_channels(src, staged, calibration, **dict(cfg["outlier_split"]))
        src = staged
    exclude = _excluded_nodes(src, cfg)
    if split is not None:  # split FFN-out projections are int8 now; their fp32 side branches stay fp32
        int8_down = set(split["int8_down"])
        exclude = list(dict.fromkeys([n for n in exclude if n not in int8_down] + split["fp32_nodes"]))
    import logging

    root = logging.getLogger()
    level = root.level  # onnxruntime's quantizers log on the root logger: quiet it for this call only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root.setLevel(logging.ERROR)
        try:
            if cfg.get("method") == "static":
                return _static(src, dst, cfg, exclude, calibration)
            quantize_dynamic(
                str(src),
                str(dst),
                weight_type=getattr(QuantType, cfg.get("weight_type", "QInt8")),
                per_channel=bool(cfg.get("per_channel", True)),
                reduce_range=bool(cfg.get("reduce_range", False)),
                op_types_to_quantize=cfg.get("op_types_to_quantize"),
                nodes_to_exclude=exclude or None,
                extra_options={
                    "DefaultTensorType": onnx.TensorProto.FLOAT,
                    **dict(cfg.get("extra_options", {})),
                },
            )
        finally:
            root.setLevel(level)
    info = {"method": "onnxruntime.quantization.quantize_dynamic", **cfg, "excluded_nodes": len(exclude)}
    if cfg.get("approximate_gelu"):
        info["approximate_gelu"] = {"FastGelu nodes": _approximate_gelu(dst)}
    if split is not None:
        info["outlier_split"] = {
            **dict(cfg["outlier_split"]),
            "ffn_blocks": split["sites"],
            "outlier_channels": split["channels"],
            "calibration_batches": len(calibration or ()),
        }
        for leftover in (src, Path(str(src) + ".data")):
            Path(leftover).unlink(missing_ok=True)
    if cfg.get("excluded_as_nbits"):
        # the MatMuls kept out of dynamic quantisation get 8-bit block-wise weights instead (with
        # accuracy_level 4 their activations are quantised per block of K, which tolerates outliers)
        info["excluded_as"] = _matmul_nbits(dst, dst, dict(cfg["excluded_as_nbits"]))
    return info


def _approximate_gelu(path: str | Path) -> int:
    """Turn onnxruntime's erf ``BiasGelu`` nodes of ``path`` into ``FastGelu`` (tanh form, same inputs).

    The tanh form differs from erf GELU by at most ~1e-3 (far below the int8 error) and runs faster on
    CPU (all-MiniLM-L6-v2 ``split``: 1.84x -> 1.91x fp32, cosine to fp32 unchanged). Returns the count.
    """
    import onnx

    model = onnx.load(str(path))
    count = 0
    for node in model.graph.node:
        if node.op_type == "BiasGelu" and node.domain == "com.microsoft":
            node.op_type = "FastGelu"
            count += 1
    if count:
        big = model.ByteSize() > 1_800_000_000  # protobuf's 2 GB limit: weights go to a side file
        onnx.save(model, str(path), save_as_external_data=big, location=Path(path).name + ".data")
    return count


def convert_precision(
    src: str | Path,
    dst: str | Path,
    precision: str,
    *,
    int8_profile: str | None = None,
    calibration: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write ``src`` at ``precision`` into ``dst`` and describe what was done.

    ``int8_profile``: a name from :data:`INT8_PROFILES` (int8 only; ``None``: the default profile).
    ``calibration``: feed dicts of real inputs, for the profiles that calibrate (``split``).
    """
    if precision == "fp16":
        return convert_fp16(src, dst)
    if precision == "int8":
        return {
            "profile": int8_profile or DEFAULT_INT8_PROFILE,
            **quantize_int8(src, dst, int8_settings(int8_profile), calibration=calibration),
        }
    raise ExportError(f"unknown precision {precision!r}; choose fp32, fp16 or int8")
